package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/intellidox/intellidox/internal/config"
	"github.com/intellidox/intellidox/internal/pgstore"
)

// keys is the admin command for API keys. It talks to the database directly
// (DATABASE_URL), so it works before any key exists.
func keys(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	usage := func() int {
		fmt.Fprintln(stderr, "usage: api keys create --tenant T [--name N] [--admin] | api keys list | api keys revoke ID")
		return 2
	}
	if len(args) == 0 {
		return usage()
	}
	var e config.Env
	pool, err := pgxpool.New(ctx, databaseURL(&e))
	if err == nil {
		err = pgstore.Migrate(ctx, pool)
	}
	if err != nil {
		fmt.Fprintln(stderr, "api keys:", err)
		return 1
	}
	defer pool.Close()
	store := pgstore.New(pool)
	switch args[0] {
	case "create":
		fs := flag.NewFlagSet("create", flag.ContinueOnError)
		fs.SetOutput(stderr)
		tenant := fs.String("tenant", "", "tenant the key belongs to (required)")
		name := fs.String("name", "", "a label, e.g. who or what uses the key")
		admin := fs.Bool("admin", false, "may use the admin endpoints")
		if fs.Parse(args[1:]) != nil || *tenant == "" {
			return usage()
		}
		k, secret, err := store.CreateKey(ctx, *tenant, *name, *admin)
		if err != nil {
			fmt.Fprintln(stderr, "api keys create:", err)
			return 1
		}
		fmt.Fprintf(stderr, "key %s for tenant %s created; the secret below is shown once and stored only as a hash:\n", k.ID, k.Tenant)
		fmt.Fprintln(stdout, secret)
	case "list":
		list, err := store.ListKeys(ctx)
		if err != nil {
			fmt.Fprintln(stderr, "api keys list:", err)
			return 1
		}
		tw := tabwriter.NewWriter(stdout, 0, 2, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tTENANT\tNAME\tADMIN\tCREATED\tREVOKED")
		for _, k := range list {
			revoked := ""
			if k.RevokedAt != nil {
				revoked = k.RevokedAt.Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%t\t%s\t%s\n", k.ID, k.Tenant, k.Name, k.Admin, k.CreatedAt.Format(time.RFC3339), revoked)
		}
		tw.Flush()
	case "revoke":
		if len(args) != 2 {
			return usage()
		}
		ok, err := store.RevokeKey(ctx, args[1])
		if err != nil {
			fmt.Fprintln(stderr, "api keys revoke:", err)
			return 1
		}
		if !ok {
			fmt.Fprintln(stderr, "api keys revoke: no active key with that id")
			return 1
		}
		fmt.Fprintln(stdout, "revoked", args[1])
	default:
		return usage()
	}
	return 0
}
