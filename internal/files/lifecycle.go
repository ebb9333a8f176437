package files

import (
	"context"
	"strings"
	"time"

	"github.com/intellidox/intellidox/internal/contract"
)

// The lifecycle of a content and of the uploads that bring it. Every rule
// of a file's life after its creation lives here, as transitions over one
// value: the content as the store loaded it, locked. A transition changes
// that value, marks what it changed, and appends the events it causes; the
// store saves both in the transaction that loaded it (Store.Update). The
// transitions know no SQL and no clock but the one they are given, so the
// table tests in lifecycle_test.go need no database.

// Content is one content (a SHA-256) with what its life depends on: its
// own state, the engines' results, and its live uploads.
type Content struct {
	SHA256 string
	// Now is the store's clock at load: what "stuck" is measured against.
	Now time.Time
	// Stored reports whether the content has a row yet (bytes for it were
	// confirmed once); a transition that sets it makes the store insert it.
	Stored    bool
	State     string // BlobNew … BlobRejected
	Size      int64
	ObjectKey string // the object the content is processed from
	Verdict   contract.Verdict
	Reason    string
	Findings  []contract.Finding
	Results   []contract.Result
	// Uploads are the content's uploads in processing, plus the ones the
	// caller named (Key.Uploads) whatever their status. Finished uploads
	// are not loaded: a verdict change reaches them through an event the
	// store addresses to each (VerdictChangedAll).
	Uploads []*LiveUpload

	// What the transitions changed, for the store to save.
	Changed  bool                       // State, Size, ObjectKey, Verdict or Reason
	Record   *contract.FileExtracted    // the extractor's record of the verified bytes
	Keep     []contract.SealedPasswords // password lists to keep for rescans
	Recorded []contract.Result          // results to write
	Decided  bool                       // the verdict changed: add it to the history
	Proven   []string                   // tenants that proved possession now
	Events   []Event
}

// LiveUpload is an upload as the lifecycle sees it.
type LiveUpload struct {
	ID, Tenant  string
	Name        string
	ContentType string
	Size        int64
	Status      Status
	Reason      string
	// ObjectKey is the object of the upload's own bytes; "" when it
	// needed none (its tenant owned the content at creation).
	ObjectKey  string
	Dispatched bool // its bytes were sent to the extractor
	Redrives   int
	// Holds reports whether its tenant proved possession of the content.
	Holds       bool
	ConfirmedAt time.Time // zero while it awaits its bytes
	UpdatedAt   time.Time
	// Lists are the sealed password lists it brings: its tenant's, then
	// its own.
	Lists []contract.SealedPasswords
	// Changed marks an upload the store must save.
	Changed bool
}

// Event is an event a transition causes, written to the outbox with it.
type Event struct {
	Topic string
	// Data is the payload (a contract type). Two are completed by the
	// store: a FileExtracted without an ObjectKey is a rescan, filled in
	// from what the extractor recorded (and the named upload's lists); a
	// FileVerdictChanged without a FileID goes to every finished upload
	// of the content.
	Data any
}

// Key names what Store.Update loads: the content, and uploads of it to
// load whatever their status.
type Key struct {
	SHA256  string
	Uploads []string
}

// Upload returns the loaded upload id, or nil.
func (c *Content) Upload(id string) *LiveUpload {
	for _, u := range c.Uploads {
		if u.ID == id {
			return u
		}
	}
	return nil
}

func (c *Content) emit(topic string, data any) {
	c.Events = append(c.Events, Event{Topic: topic, Data: data})
}

func (c *Content) change(u *LiveUpload, status Status, reason string) {
	u.Status, u.Changed = status, true
	if reason != "" {
		u.Reason = reason
	}
}

// complete finishes u with status and verdict v, and announces it.
func (c *Content) complete(u *LiveUpload, status Status, v contract.Verdict, reason string) {
	c.change(u, status, reason)
	c.emit(contract.TopicFileCompleted, contract.FileCompleted{Version: contract.SchemaVersion,
		FileID: u.ID, SHA256: c.SHA256, Status: string(status), Verdict: v})
}

// dispatch sends u's own bytes to the extractor.
func (c *Content) dispatch(u *LiveUpload) {
	u.Dispatched, u.Redrives, u.Changed = true, 0, true
	c.sendBytes(u)
}

// sendBytes (re)sends file.uploaded for u: its own bytes, or the content's
// when it has none of its own.
func (c *Content) sendBytes(u *LiveUpload) {
	key := u.ObjectKey
	if key == "" {
		key = c.ObjectKey
	}
	c.emit(contract.TopicFileUploaded, contract.FileUploaded{Version: contract.SchemaVersion,
		FileID: u.ID, SHA256: c.SHA256, Size: u.Size, ObjectKey: key, ContentType: u.ContentType,
		Name: u.Name, Passwords: u.Lists})
}

// rescan asks engines (all when empty) to scan the verified content again,
// with the lists of upload id ("" for none) besides the content's.
func (c *Content) rescan(id string, engines []string) {
	c.emit(contract.TopicFileExtracted, contract.FileExtracted{Version: contract.SchemaVersion,
		FileID: id, SHA256: c.SHA256, Engines: engines, Rescan: true})
}

// Confirm moves upload id, whose bytes are in storage, out of
// awaiting_upload as OnConfirm decides. Confirming twice changes nothing.
func (c *Content) Confirm(id string) error {
	u := c.Upload(id)
	if u == nil {
		return ErrNotFound
	}
	if u.Status != AwaitingUpload {
		return nil
	}
	if !c.Stored {
		c.Stored, c.State, c.Size, c.ObjectKey, c.Changed = true, BlobNew, u.Size, u.ObjectKey, true
	}
	u.ConfirmedAt, u.Changed = c.Now, true
	switch OnConfirm(u.Holds, c.State, c.Verdict.Final()) {
	case Finish:
		c.complete(u, Done, c.Verdict, "")
	case Wait:
		u.Status = Processing // settle dispatches it
	case Carry:
		c.carry(u)
	case Verify:
		u.Status = Processing
		c.dispatch(u)
	}
	return nil
}

// carry makes u's bytes the ones the content is processed from.
func (c *Content) carry(u *LiveUpload) {
	c.State, c.ObjectKey, c.Reason, c.Changed = BlobProcessing, u.ObjectKey, "", true
	u.Status = Processing
	c.dispatch(u)
}

// Extracted records the extractor's answer about one upload's bytes, and
// settles the verdict if every engine has reported.
func (c *Content) Extracted(ev contract.FileExtracted, d Decider) {
	if !c.Stored {
		return // content we never issued: nothing to record
	}
	switch OnExtraction(ev.Rejection != nil, c.State, ev.ObjectKey == c.ObjectKey) {
	case Ignore:
		return
	case RejectContent:
		c.rejectContent(ev.Rejection.Code + ": " + ev.Rejection.Reason)
		return
	case RejectUpload:
		c.rejectBytes(ev.ObjectKey, ev.Rejection.Code+": "+ev.Rejection.Reason)
		return
	case VerifyContent:
		c.State, c.Size, c.ObjectKey, c.Reason, c.Changed = BlobVerified, ev.Size, ev.ObjectKey, "", true
		c.Findings = ev.Findings
		c.Record = &ev
	case ProveUpload:
		// The scanners try the lists this upload brings on content they
		// could not open: keep them, so that rescans try them too.
		c.Keep = ev.Passwords
	}
	c.prove(ev.ObjectKey, ev.FileID)
	c.settle(d)
}

// prove records that the tenants of the uploads whose own bytes were just
// verified hold the content.
func (c *Content) prove(objectKey, fileID string) {
	for _, u := range c.Uploads {
		if (objectKey != "" && u.ObjectKey == objectKey) || (u.ObjectKey == "" && u.ID == fileID) {
			c.holds(u.Tenant)
		}
	}
}

func (c *Content) holds(tenant string) {
	fresh := false
	for _, u := range c.Uploads {
		if u.Tenant == tenant && !u.Holds {
			u.Holds, fresh = true, true
		}
	}
	if fresh {
		c.Proven = append(c.Proven, tenant)
	}
}

// rejectContent rejects the content whose carrying bytes failed, with the
// uploads that relied on those bytes, and lets the oldest upload waiting
// with bytes of its own carry it.
func (c *Content) rejectContent(reason string) {
	c.State, c.Reason, c.Changed = BlobRejected, reason, true
	for _, u := range c.Uploads {
		if u.Status == Processing && (u.ObjectKey == "" || u.ObjectKey == c.ObjectKey) {
			c.complete(u, Rejected, contract.VerdictUnscanned, reason)
		}
	}
	c.promote()
}

// waiting reports whether u waits, with bytes of its own, for the content
// to settle before they are verified.
func (c *Content) waiting(u *LiveUpload) bool {
	return u.Status == Processing && !u.Dispatched && u.ObjectKey != ""
}

// rejectBytes rejects the one upload whose own bytes (objectKey) failed.
func (c *Content) rejectBytes(objectKey, reason string) {
	for _, u := range c.Uploads {
		if u.Status == Processing && u.ObjectKey == objectKey {
			c.complete(u, Rejected, contract.VerdictUnscanned, reason)
		}
	}
}

// Scanned records one engine's result (unless a later one is recorded)
// and settles the verdict if the content is verified and every engine has
// reported.
func (c *Content) Scanned(ev contract.ScanCompleted, d Decider) {
	if !c.Stored {
		return
	}
	c.record(ev.Result)
	if c.State == BlobVerified {
		c.settle(d)
	}
}

func (c *Content) record(r contract.Result) {
	if r.Threats == nil {
		r.Threats = []string{}
	}
	for i, old := range c.Results {
		if old.Engine == r.Engine {
			if old.ScannedAt.After(r.ScannedAt) {
				return // a redelivered older result
			}
			c.Results[i] = r
			c.Recorded = append(c.Recorded, r)
			return
		}
	}
	c.Results = append(c.Results, r)
	c.Recorded = append(c.Recorded, r)
}

// settle decides the verdict once every engine has reported, finishes the
// uploads whose tenants hold the content, and sends the bytes of those
// that waited with their own.
func (c *Content) settle(d Decider) {
	v, complete := d.Decide(c.Results, c.Findings)
	if !complete {
		return
	}
	if v != c.Verdict {
		previous := c.Verdict
		c.Verdict, c.Changed, c.Decided = v, true, true
		if previous.Final() {
			c.emit(contract.TopicVerdictChanged, contract.FileVerdictChanged{Version: contract.SchemaVersion,
				SHA256: c.SHA256, Verdict: v, Previous: previous})
		}
	}
	for _, u := range c.Uploads {
		if u.Status == Processing && u.Holds {
			c.complete(u, Done, v, "")
		}
	}
	for _, u := range c.Uploads {
		if c.waiting(u) {
			c.dispatch(u)
		}
	}
}

// Rescan asks engines (all when empty) to scan the content of the
// tenant's upload id again. The content must be verified and held by the
// tenant: the answer is the same whether or not another tenant has it.
func (c *Content) Rescan(tenant, id string, engines []string) error {
	u := c.Upload(id)
	if u == nil || u.Tenant != tenant {
		return ErrNotFound
	}
	if c.State != BlobVerified || !u.Holds {
		return ErrNotReady
	}
	c.rescan(u.ID, engines)
	return nil
}

// Reconcile actions.
const (
	RedriveExtract    = "redrive_extract"
	RedriveScan       = "redrive_scan"
	RedriveVerify     = "redrive_verify"
	Settled           = "settled"
	FinishedUnscanned = "finished_unscanned"
)

// Reconcile re-drives the content if one of its uploads has sat in
// processing, untouched, for stuckAfter: it asks again for what never came
// back, and after maxRedrives gives up, finishing with what the engines
// reported (missing engines count as errors). It returns the action, or ""
// when no upload is stuck (another replica re-drove it meanwhile).
func (c *Content) Reconcile(stuckAfter time.Duration, maxRedrives int, d Decider) string {
	var stuck *LiveUpload
	for _, u := range c.Uploads {
		if u.Status == Processing && c.Now.Sub(u.UpdatedAt) > stuckAfter &&
			(stuck == nil || u.UpdatedAt.Before(stuck.UpdatedAt)) {
			stuck = u
		}
	}
	if stuck == nil {
		return ""
	}
	if stuck.Redrives >= maxRedrives {
		c.giveUp(d)
		return FinishedUnscanned
	}
	action := c.redrive(stuck, d)
	if action != Settled {
		for _, u := range c.Uploads {
			if u.Status == Processing {
				u.Redrives++
				u.Changed = true
			}
		}
	}
	return action
}

func (c *Content) redrive(stuck *LiveUpload, d Decider) string {
	if c.State != BlobVerified {
		// The extraction never came back: ask again for the bytes the
		// content is processed from, or let a waiting upload carry it.
		var carrier *LiveUpload
		for _, u := range c.Uploads {
			if u.Status == Processing && u.Dispatched && (u.ObjectKey == "" || u.ObjectKey == c.ObjectKey) &&
				(carrier == nil || u.ConfirmedAt.Before(carrier.ConfirmedAt)) {
				carrier = u
			}
		}
		if carrier != nil {
			c.sendBytes(carrier)
		} else {
			c.promote()
		}
		return RedriveExtract
	}
	if missing := d.Missing(c.Results); len(missing) > 0 {
		c.rescan(stuck.ID, missing)
		return RedriveScan
	}
	// Uploads whose own bytes were sent to be verified and never came back.
	sent := false
	for _, u := range c.unproven() {
		c.sendBytes(u)
		sent = true
	}
	if sent {
		return RedriveVerify
	}
	c.settle(d) // every engine reported, but the verdict was never settled
	return Settled
}

// promote lets the oldest upload waiting with its own bytes carry content
// that has no carrier left.
func (c *Content) promote() {
	var next *LiveUpload
	for _, u := range c.Uploads {
		if c.waiting(u) && (next == nil || u.ConfirmedAt.Before(next.ConfirmedAt) ||
			(u.ConfirmedAt.Equal(next.ConfirmedAt) && u.ID < next.ID)) {
			next = u
		}
	}
	if next != nil {
		c.carry(next)
	}
}

// unproven are the processing uploads whose own bytes were sent to be
// verified but whose tenants have not proved possession.
func (c *Content) unproven() []*LiveUpload {
	var out []*LiveUpload
	for _, u := range c.Uploads {
		if u.Status == Processing && u.Dispatched && u.ObjectKey != "" && !u.Holds {
			out = append(out, u)
		}
	}
	return out
}

// giveUp stops waiting: content never verified is rejected; engines that
// never reported get an error result saying so and the verdict is settled
// from what there is; uploads whose own bytes were never verified are
// rejected.
func (c *Content) giveUp(d Decider) {
	if c.State != BlobVerified {
		c.rejectContent("extraction_timeout: the extractor never reported after repeated re-drives")
		return
	}
	missing := d.Missing(c.Results)
	for _, engine := range missing {
		c.record(contract.Result{Engine: engine, Result: contract.Error, ScannedAt: c.Now.UTC(),
			Detail: "timeout: the engine never reported after repeated re-drives"})
	}
	if len(missing) > 0 {
		for _, u := range c.Uploads {
			if u.Status == Processing {
				c.change(u, Processing, "engines that never reported: "+strings.Join(missing, ", "))
			}
		}
	}
	c.settle(d)
	for _, u := range c.unproven() {
		c.rejectBytes(u.ObjectKey, "extraction_timeout: the extractor never verified this upload's bytes after repeated re-drives")
	}
}

// update runs a transition on the content key names, in one transaction,
// and relays the events it caused.
func (s *Service) update(ctx context.Context, key Key, fn func(*Content) error) error {
	ids, err := s.store.Update(ctx, key, fn)
	if err != nil {
		return err
	}
	s.relay.Relay(ctx, ids)
	return nil
}
