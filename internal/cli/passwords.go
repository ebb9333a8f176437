package cli

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/intellidox/intellidox/internal/client"
)

// stdin is where `passwords set` reads the list: one password per line, so
// that no password sits in a shell's history or a process list.
var stdin io.Reader = os.Stdin

// passwords shows, sets or clears the tenant's archive passwords.
func passwords(ctx context.Context, c *client.Client, action string, in io.Reader, stdout, stderr io.Writer) int {
	var l client.PasswordList
	var err error
	switch action {
	case "show":
		l, err = c.ArchivePasswords(ctx)
	case "set":
		var list []string
		sc := bufio.NewScanner(in)
		for sc.Scan() {
			if pw := strings.TrimRight(sc.Text(), "\r"); pw != "" {
				list = append(list, pw)
			}
		}
		if err := sc.Err(); err != nil {
			return fail(stderr, err)
		}
		if len(list) == 0 {
			fmt.Fprintln(stderr, "intellidox passwords set: no password on stdin (one per line); use clear to remove them")
			return ExitUsage
		}
		l, err = c.SetArchivePasswords(ctx, list)
	case "clear":
		err = c.ClearArchivePasswords(ctx)
	default:
		fmt.Fprintf(stderr, "intellidox passwords: %q: want show, set or clear\n", action)
		return ExitUsage
	}
	if err != nil {
		return fail(stderr, err)
	}
	if l.Count == 0 {
		fmt.Fprintln(stdout, "archive passwords: none (the built-in list is still tried)")
		return ExitOK
	}
	fmt.Fprintf(stdout, "archive passwords: %d, set by %s at %s\n", l.Count, l.UpdatedBy, l.UpdatedAt.Format("2006-01-02 15:04:05Z07:00"))
	return ExitOK
}
