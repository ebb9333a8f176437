package files

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/intellidox/intellidox/internal/contract"
	"github.com/intellidox/intellidox/internal/problem"
	"github.com/intellidox/intellidox/internal/rest"
)

// This file acts on verdicts (docs/downloads.md): the download gate, the
// verdict tags on stored objects, and the notifications (webhooks) a file
// event causes.

// DownloadPolicy is which verdicts besides clean a tenant's users may
// download. Malicious never passes; pending is not a verdict yet.
type DownloadPolicy struct {
	AllowSuspicious bool      `json:"allowSuspicious"`
	AllowUnscanned  bool      `json:"allowUnscanned"`
	UpdatedBy       string    `json:"updatedBy,omitempty"`
	Reason          string    `json:"reason,omitempty"`
	UpdatedAt       time.Time `json:"updatedAt,omitzero"`
}

// PolicyChange is one audited change of a download policy.
type PolicyChange struct {
	ChangedBy       string    `json:"changedBy"`
	Reason          string    `json:"reason"`
	AllowSuspicious bool      `json:"allowSuspicious"`
	AllowUnscanned  bool      `json:"allowUnscanned"`
	ChangedAt       time.Time `json:"changedAt"`
}

// Outcome is what a file event acts on, read when it is handled: the file,
// its content's current verdict and the objects that hold its bytes.
type Outcome struct {
	File       File
	Version    int64 // the content's latest verdict_history id: grows with every verdict
	ScannedAt  time.Time
	Signatures []string
	Keys       []string
	// Sources are the objects in protected buckets the file was read
	// from (package protect): they get the verdict tags too.
	Sources []SourceObject
}

// SourceObject is one version of an object in a protected bucket.
type SourceObject struct {
	Bucket, Key, ETag string
}

// ActionStore is what the actions read and write.
type ActionStore interface {
	Get(ctx context.Context, tenant, id string) (File, error)
	Results(ctx context.Context, sha256 string) ([]contract.Result, error)
	Outcome(ctx context.Context, fileID string) (Outcome, error)
	DownloadPolicy(ctx context.Context, tenant string) (DownloadPolicy, error)
	SetDownloadPolicy(ctx context.Context, tenant string, p DownloadPolicy) (DownloadPolicy, error)
	DownloadPolicyAudit(ctx context.Context, tenant string, limit int) ([]PolicyChange, error)
	// WithObjectLock runs fn while no other replica acts on the objects of
	// the content sha.
	WithObjectLock(ctx context.Context, sha string, fn func(context.Context) error) error
	// RenameObject makes every record of the object under from name to.
	RenameObject(ctx context.Context, from, to string) error
}

// Storage presigns downloads, tags objects and moves them.
type Storage interface {
	PresignGet(ctx context.Context, key, name string, ttl time.Duration) (PresignedGet, error)
	PutTags(ctx context.Context, key string, tags map[string]string) error
	// TagSource sets tags on a protected bucket's object, keeping its
	// other tags, if it is still the version etag.
	TagSource(ctx context.Context, o SourceObject, tags map[string]string) error
	Copy(ctx context.Context, from, to string) error
	Delete(ctx context.Context, key string) error
}

// Notifier queues the notifications of a file event (webhooks).
type Notifier interface {
	Notify(ctx context.Context, event string, o Outcome, previous contract.Verdict) error
}

// Notification events, as subscribers name them.
const (
	EventCompleted      = "file.completed"
	EventRejected       = "file.rejected"
	EventVerdictChanged = "file.verdict_changed"
)

// Actions implements the verdict's consequences.
type Actions struct {
	store    ActionStore
	storage  Storage
	notifier Notifier // nil: no notifications
	cfg      ActionConfig
}

// ActionConfig holds the settings of the actions.
type ActionConfig struct {
	// DownloadTTL is the lifetime of a download URL (DefaultDownloadTTL
	// when 0).
	DownloadTTL time.Duration
	// Quarantine, when set, is the key prefix malicious content moves
	// under, e.g. "quarantine/"; it moves back if a rescan clears it.
	Quarantine string
}

// DefaultDownloadTTL is the lifetime of a download URL.
const DefaultDownloadTTL = 5 * time.Minute

// NewActions wires Actions.
func NewActions(store ActionStore, storage Storage, notifier Notifier, cfg ActionConfig) *Actions {
	if cfg.DownloadTTL <= 0 {
		cfg.DownloadTTL = DefaultDownloadTTL
	}
	return &Actions{store: store, storage: storage, notifier: notifier, cfg: cfg}
}

// Download is the answer to a download request (rest.Download).
type Download = rest.Download

// ErrVerdictPending answers a download of a file without a verdict yet.
var ErrVerdictPending = problem.New(problem.Conflict, "verdict_pending",
	"The file has no verdict yet: it can be downloaded once it is scanned and allowed.")

// Gate decides whether a file with verdict v may be downloaded under p. It
// returns nil or the problem to answer.
func Gate(v contract.Verdict, p DownloadPolicy, reasons []string) error {
	switch {
	case v == contract.VerdictClean,
		v == contract.VerdictSuspicious && p.AllowSuspicious,
		v == contract.VerdictUnscanned && p.AllowUnscanned:
		return nil
	case !v.Final():
		return ErrVerdictPending
	}
	detail := fmt.Sprintf("The file's verdict is %s, which this tenant's download policy does not allow.", v)
	if v == contract.VerdictMalicious {
		detail = "The file is malicious: it is never downloadable."
	}
	if reasons == nil {
		reasons = []string{}
	}
	return &problem.Error{Kind: problem.Forbidden, Code: "verdict_blocks_download", Detail: detail,
		Extensions: map[string]any{"verdict": v, "reasons": reasons}}
}

// Download returns a short-lived URL for the file's bytes if its verdict
// passes the tenant's policy.
func (a *Actions) Download(ctx context.Context, tenant, id string) (Download, error) {
	f, err := a.store.Get(ctx, tenant, id)
	if err != nil {
		return Download{}, err
	}
	if !f.Verdict.Final() {
		return Download{}, ErrVerdictPending
	}
	p, err := a.store.DownloadPolicy(ctx, tenant)
	if err != nil {
		return Download{}, err
	}
	if err := Gate(f.Verdict, p, nil); err != nil {
		reasons, rerr := a.reasons(ctx, f)
		if rerr != nil {
			return Download{}, rerr
		}
		return Download{}, Gate(f.Verdict, p, reasons)
	}
	d, err := a.storage.PresignGet(ctx, f.ObjectKey, f.Name, a.cfg.DownloadTTL)
	if err != nil {
		return Download{}, problem.Wrap(problem.Internal, "presign_failed", "Could not issue a download URL.", err)
	}
	return Download{URL: d.URL, ExpiresAt: d.ExpiresAt, Name: f.Name, Verdict: f.Verdict}, nil
}

// reasons explains a verdict: each engine's threats and the extractor's
// findings that affect it, or the rejection.
func (a *Actions) reasons(ctx context.Context, f File) ([]string, error) {
	if f.Status == Rejected {
		return []string{f.Reason}, nil
	}
	results, err := a.store.Results(ctx, f.SHA256)
	if err != nil {
		return nil, err
	}
	out := []string{}
	for _, r := range results {
		for _, t := range r.Threats {
			out = append(out, r.Engine+": "+t)
		}
		if len(r.Threats) == 0 && r.Result != contract.Clean {
			out = append(out, r.Engine+": "+string(r.Result)+strings.TrimSuffix(" ("+r.Detail+")", " ()"))
		}
	}
	for _, fd := range findingsOf(f) {
		if fd.Effect != "" {
			out = append(out, "extractor: "+fd.Code)
		}
	}
	return out, nil
}

// Policy returns the tenant's download policy and its latest changes.
func (a *Actions) Policy(ctx context.Context, tenant string) (DownloadPolicy, []PolicyChange, error) {
	p, err := a.store.DownloadPolicy(ctx, tenant)
	if err != nil {
		return p, nil, err
	}
	audit, err := a.store.DownloadPolicyAudit(ctx, tenant, 50)
	if audit == nil {
		audit = []PolicyChange{}
	}
	return p, audit, err
}

// PolicyRequest is the body of PUT /v1/settings/download-policy.
type PolicyRequest struct {
	AllowSuspicious *bool   `json:"allowSuspicious"`
	AllowUnscanned  *bool   `json:"allowUnscanned"`
	Reason          *string `json:"reason"`
}

// SetPolicy changes the tenant's download policy; who and why are audited.
func (a *Actions) SetPolicy(ctx context.Context, tenant, who string, r PolicyRequest) (DownloadPolicy, error) {
	switch {
	case r.AllowSuspicious == nil:
		return DownloadPolicy{}, problem.Field("missing_field", "allowSuspicious", "allowSuspicious is required.")
	case r.AllowUnscanned == nil:
		return DownloadPolicy{}, problem.Field("missing_field", "allowUnscanned", "allowUnscanned is required.")
	case r.Reason == nil || strings.TrimSpace(*r.Reason) == "":
		return DownloadPolicy{}, problem.Field("missing_field", "reason", "reason is required: say why the policy changes.")
	case len(*r.Reason) > 500 || !utf8.ValidString(*r.Reason):
		return DownloadPolicy{}, problem.Field("invalid_reason", "reason", "reason must be UTF-8 text of at most 500 bytes.")
	}
	return a.store.SetDownloadPolicy(ctx, tenant, DownloadPolicy{AllowSuspicious: *r.AllowSuspicious,
		AllowUnscanned: *r.AllowUnscanned, UpdatedBy: who, Reason: strings.TrimSpace(*r.Reason)})
}

// Object tags that carry a verdict (docs/downloads.md).
const (
	TagVerdict    = "intellidox-verdict"
	TagScannedAt  = "intellidox-scanned-at"
	TagSignatures = "intellidox-signatures"
)

// VerdictTags are the tags of an object whose bytes have outcome o.
func VerdictTags(o Outcome) map[string]string {
	v := o.File.Verdict
	if !v.Final() {
		v = contract.VerdictUnscanned
	}
	at := ""
	if !o.ScannedAt.IsZero() {
		at = o.ScannedAt.UTC().Format(time.RFC3339)
	}
	return map[string]string{TagVerdict: string(v), TagScannedAt: at, TagSignatures: tagValue(o.Signatures)}
}

// tagValue joins signature names into one S3 tag value: at most 256
// characters from the set S3 allows (letters, digits, space, + - = . _ : / @).
func tagValue(sigs []string) string {
	var b strings.Builder
	for _, s := range sigs {
		clean := strings.Map(func(r rune) rune {
			switch {
			case r < 0x80 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("+-=._:/@", r)):
				return r
			}
			return '_'
		}, s)
		sep := ""
		if b.Len() > 0 {
			sep = " "
		}
		if b.Len()+len(sep)+len(clean) > 256 {
			continue // a shorter name may still fit
		}
		b.WriteString(sep + clean)
	}
	return b.String()
}

// OnFileEvent acts on a file event: it moves the objects that hold the
// file's bytes in or out of quarantine and tags them with the verdict their
// content has now, then queues the notifications. It is idempotent, so a
// redelivery repeats it harmlessly.
func (a *Actions) OnFileEvent(ctx context.Context, event, fileID string, previous contract.Verdict) error {
	o, err := a.store.Outcome(ctx, fileID)
	if err == ErrNotFound {
		return nil // nothing to act on
	}
	if err != nil {
		return err
	}
	if a.cfg.Quarantine == "" {
		err = a.tag(ctx, o)
	} else {
		err = a.store.WithObjectLock(ctx, o.File.SHA256, func(ctx context.Context) error {
			// Read again under the lock: another replica may have moved
			// the objects, or a rescan changed the verdict, meanwhile.
			if o, err = a.store.Outcome(ctx, fileID); err != nil {
				return err
			}
			if err := a.place(ctx, &o); err != nil {
				return err
			}
			return a.tag(ctx, o)
		})
	}
	if err != nil || a.notifier == nil {
		return err
	}
	return a.notifier.Notify(ctx, event, o, previous)
}

func (a *Actions) tag(ctx context.Context, o Outcome) error {
	tags := VerdictTags(o)
	for _, k := range o.Keys {
		if err := a.storage.PutTags(ctx, k, tags); err != nil {
			return err
		}
	}
	for _, src := range o.Sources {
		if err := a.storage.TagSource(ctx, src, tags); err != nil {
			return err
		}
	}
	return nil
}

// place moves each object of a finished file where its verdict wants it:
// under the quarantine prefix if malicious, outside it otherwise. The copy
// comes first and the records follow, so a crash in between leaves the
// records naming an object that exists; the object at the other place is
// deleted last, on this event or the next one. The caller holds the
// content's object lock.
func (a *Actions) place(ctx context.Context, o *Outcome) error {
	if o.File.Status != Done {
		return nil
	}
	for i, k := range o.Keys {
		base := strings.TrimPrefix(k, a.cfg.Quarantine)
		want, other := base, a.cfg.Quarantine+base
		if o.File.Verdict == contract.VerdictMalicious {
			want, other = other, want
		}
		if k != want {
			if err := a.storage.Copy(ctx, k, want); err != nil {
				return err
			}
			if err := a.store.RenameObject(ctx, k, want); err != nil {
				return err
			}
			o.Keys[i] = want
		}
		if err := a.storage.Delete(ctx, other); err != nil {
			return err
		}
	}
	return nil
}
