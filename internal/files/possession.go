package files

import (
	"encoding/json"

	"github.com/intellidox/intellidox/internal/contract"
)

// Proof of possession. Content is addressed by its SHA-256, but a hash is
// proof of nothing: hash lists leak, templates can be guessed. Content counts
// as a tenant's own only once that tenant delivered the bytes (a PUT that
// storage checked against the hash, then the extractor's own hash check) or
// already owns it. Until then every answer the tenant gets is the one it
// would get if no other tenant had the content. What tenants share is the
// engines' work: verified bytes of known content are not scanned again.
// These rules are pure; the store loads, locks and saves.

// CreateOutcome decides a new upload's status: only a tenant that owns
// verified content skips the upload. size_conflict can therefore only speak
// of the caller's own content.
func CreateOutcome(owned bool, blobState string, blobSize int64, verdict contract.Verdict, size int64) (Status, contract.Verdict, error) {
	if !owned || blobState != BlobVerified {
		return AwaitingUpload, contract.VerdictPending, nil
	}
	if size != blobSize {
		return "", "", ErrSizeConflict
	}
	if verdict.Final() {
		return Done, verdict, nil
	}
	return Processing, contract.VerdictPending, nil
}

// Dispatch is what confirming an upload whose bytes are in storage does.
type Dispatch int

// Dispatches.
const (
	// Carry: the upload's bytes become the content's: extract, then scan.
	Carry Dispatch = iota + 1
	// Verify: the content is verified and settled: extract the upload's
	// bytes to prove them; the scanners answer from their cache.
	Verify
	// Wait: the content is being scanned from another upload's bytes; the
	// upload's own bytes are verified once that settles, so that each
	// content is scanned once.
	Wait
	// Finish: the tenant came to own the verified, settled content since it
	// created this upload: nothing to prove.
	Finish
)

// OnConfirm decides how a confirmed upload's bytes are handled.
func OnConfirm(owned bool, blobState string, verdictFinal bool) Dispatch {
	switch {
	case blobState == BlobNew || blobState == BlobRejected:
		return Carry
	case blobState == BlobVerified && verdictFinal && owned:
		return Finish
	case blobState == BlobVerified && verdictFinal:
		return Verify
	}
	return Wait
}

// Extraction is what the api does with the extractor's answer about one
// upload's bytes.
type Extraction int

// Extraction outcomes.
const (
	// VerifyContent: the first verified bytes of the content: record what
	// the extractor found and the uploader's possession.
	VerifyContent Extraction = iota + 1
	// ProveUpload: the content was verified before: record the uploader's
	// possession only (the extraction of the same bytes is the same).
	ProveUpload
	// RejectContent: the bytes the content was being processed from are
	// not the declared ones: reject the content and the uploads relying on
	// those bytes; another upload's bytes may carry it.
	RejectContent
	// RejectUpload: one upload's own bytes are not the declared ones; the
	// content and other uploads are unaffected.
	RejectUpload
	// Ignore: a stale rejection of bytes the content no longer depends on.
	Ignore
)

// OnExtraction decides what an extraction result means. carrier reports
// whether the extracted object is the one the content is processed from.
func OnExtraction(rejected bool, blobState string, carrier bool) Extraction {
	switch {
	case !rejected && blobState == BlobVerified:
		return ProveUpload
	case !rejected:
		return VerifyContent
	case carrier && blobState == BlobVerified:
		return Ignore // good bytes of the same object were verified since
	case carrier:
		return RejectContent
	}
	return RejectUpload
}

// unprovenMetadata is what a file shows before its tenant proved
// possession: what content nobody else has shows before extraction.
var unprovenMetadata = json.RawMessage(`{"findings":[]}`)

// Redact removes what was derived from the content (hashes other than the
// declared one, MIME type, document properties, findings) from a file whose
// tenant has not proved possession.
func Redact(f File) File {
	if f.Owned {
		return f
	}
	f.MD5, f.SHA1, f.MIMEType = "", "", ""
	f.Metadata = unprovenMetadata
	return f
}

// unprovenScans is the scan view of a file whose tenant has not proved
// possession: the view of content no engine has seen.
func (s *Service) unprovenScans() Scans {
	return Scans{Verdict: contract.VerdictPending, Engines: []contract.Result{}, Pending: s.decider.Missing(nil)}
}
