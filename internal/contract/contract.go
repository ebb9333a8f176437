// Package contract holds the names and payloads every IntelliDox service
// shares: Dapr component names, topic names, event payloads and the
// normalized scan result. It has no dependencies beyond the standard library
// so that any service (or a test in another language, through the JSON
// Schemas in docs/schemas) can honour it.
package contract

import "time"

// Dapr component names. They are the same in every environment; only the
// component YAML behind them changes.
const (
	PubSub     = "events"      // pub/sub component
	StateStore = "scanresults" // the scanners' result cache (the api keeps the record in PostgreSQL)
	BlobStore  = "blobstore"   // output binding over the object store
	// LivePubSub reads the same topics as PubSub with a consumer group per
	// sidecar instance, so that every api replica sees every event.
	LivePubSub = "live"
	// SecretStore holds the key that seals archive passwords
	// (ArchivePasswordsKey). The api, the extractor and the scanners that
	// open archives read it; nothing else is read through it.
	SecretStore = "secrets"
	// StoragePubSub carries the event notifications of protected buckets
	// (S3 event JSON, not cloud events) on TopicStorageEvents: NATS
	// JetStream fed by versitygw locally, SNS/SQS fed by S3 in AWS.
	StoragePubSub = "storage"
)

// ArchivePasswordsKey is the default name of the secret holding the
// base64 of the 32-byte AES-256-GCM key that seals password lists.
const ArchivePasswordsKey = "intellidox/archive-passwords-key"

// Topics.
const (
	TopicFileUploaded  = "file.uploaded"
	TopicFileExtracted = "file.extracted"
	TopicScanCompleted = "scan.completed"
	TopicFileCompleted = "file.completed"
	TopicEngineUpdated = "engine.updated"
	// TopicVerdictChanged announces a new verdict for a file that was
	// already done, after a rescan.
	TopicVerdictChanged = "file.verdict_changed"
	// TopicDeadLetter receives messages a subscriber dropped as poison.
	TopicDeadLetter = "deadletter"
	// TopicStorageEvents receives S3 event notifications of protected
	// buckets, on StoragePubSub.
	TopicStorageEvents = "storage-events"
)

// SchemaVersion is the version of every event payload below. A consumer
// drops events whose version it does not understand.
const SchemaVersion = 1

// FileUploaded is published by the api when an upload is confirmed.
type FileUploaded struct {
	Version     int    `json:"version"`
	FileID      string `json:"fileId"`
	SHA256      string `json:"sha256"` // claimed by the client, verified by the extractor
	Size        int64  `json:"size"`
	ObjectKey   string `json:"objectKey"`
	ContentType string `json:"contentType,omitempty"`
	Name        string `json:"name,omitempty"`
	// Passwords are the sealed password lists to try on encrypted
	// content besides the built-in one: the tenant's and the upload's.
	Passwords []SealedPasswords `json:"passwords,omitempty"`
}

// SealedPasswords is a password list that travels sealed: AES-256-GCM under
// the key in SecretStore, with the source as additional data. Brokers,
// logs and the dead-letter store see only ciphertext.
type SealedPasswords struct {
	// Source names the list in results and metadata ("tenant", "upload"),
	// never its passwords.
	Source string `json:"source"`
	Sealed string `json:"sealed"`
}

// Password list sources besides the built-in one.
const (
	PasswordsTenant = "tenant"
	PasswordsUpload = "upload"
)

// FileExtracted is published by the extractor once it has read the object.
// Exactly one of Rejection or the verified fields is meaningful.
type FileExtracted struct {
	Version   int            `json:"version"`
	FileID    string         `json:"fileId"`
	SHA256    string         `json:"sha256"`
	MD5       string         `json:"md5,omitempty"`
	SHA1      string         `json:"sha1,omitempty"`
	Size      int64          `json:"size"`
	ObjectKey string         `json:"objectKey"`
	MIMEType  string         `json:"mimeType,omitempty"`
	Metadata  map[string]any `json:"metadata,omitempty"`
	Findings  []Finding      `json:"findings,omitempty"`
	Rejection *Rejection     `json:"rejection,omitempty"`
	// Engines, when set, makes this a rescan request for just these
	// engines: scanners not listed acknowledge the event without scanning.
	Engines []string `json:"engines,omitempty"`
	// Rescan marks the api's requests to scan verified content again
	// (rescans and re-drives), as opposed to the extractor's first
	// description of the bytes. Engines that start on file.uploaded act on
	// file.extracted only when it is set.
	Rescan bool `json:"rescan,omitempty"`
	// Passwords are the sealed lists the engines try on encrypted
	// content, as on FileUploaded.
	Passwords []SealedPasswords `json:"passwords,omitempty"`
	// Views are decoded views of the file (VBA source, inflated PDF
	// streams, embedded files, base64 and hex blobs) that the extractor
	// stored beside it, for engines that opt in (docs/scanner-contract.md,
	// "Decoded views"). Set only when the extractor makes them
	// (EXTRACT_VIEWS) and the file has some.
	Views []View `json:"views,omitempty"`
}

// View is one decoded view of a file, stored as an object of its own.
type View struct {
	Kind      string `json:"kind"` // "vba", "pdf-stream", "embedded", "base64", "hex"
	Name      string `json:"name"` // where it comes from, e.g. "pdf:embedded eicar.com"
	ObjectKey string `json:"objectKey"`
	Size      int64  `json:"size"`
}

// ForEngine reports whether engine should act on the event.
func (e FileExtracted) ForEngine(engine string) bool {
	if len(e.Engines) == 0 {
		return true
	}
	for _, x := range e.Engines {
		if x == engine {
			return true
		}
	}
	return false
}

// Finding is something the extractor noticed about a file: a mismatch
// between its name and its content, a limit that stopped inspection, a zip
// bomb. Effect says how it bears on the verdict.
type Finding struct {
	Code    string `json:"code"`    // stable, e.g. "extension_mismatch", "zip_bomb"
	Message string `json:"message"` // human readable
	// Effect is "" (informational), "unscanned" (the file could not be
	// fully inspected) or "suspicious" (the file itself is suspect).
	Effect Verdict `json:"effect,omitempty"`
}

// Rejection says why the extractor refused an object.
type Rejection struct {
	Code   string `json:"code"`   // stable, e.g. "hash_mismatch"
	Reason string `json:"reason"` // human readable
}

// Rejection codes.
const (
	RejectHashMismatch = "hash_mismatch"
	RejectSizeMismatch = "size_mismatch"
	RejectNotFound     = "object_not_found"
	RejectTooLarge     = "too_large"
)

// ScanCompleted is published by a scanner for every (sha256, engine) result.
type ScanCompleted struct {
	Version int    `json:"version"`
	FileID  string `json:"fileId,omitempty"` // the upload that triggered the scan, if any
	SHA256  string `json:"sha256"`
	Result  Result `json:"result"`
}

// FileCompleted is published by the api when a file reaches a terminal
// status: "done" with a final verdict, or "rejected" (verdict "unscanned").
type FileCompleted struct {
	Version int     `json:"version"`
	FileID  string  `json:"fileId"`
	SHA256  string  `json:"sha256"`
	Status  string  `json:"status"`
	Verdict Verdict `json:"verdict"`
}

// FileVerdictChanged is published by the api, once per finished file, when a
// rescan changes the verdict of its content.
type FileVerdictChanged struct {
	Version  int     `json:"version"`
	FileID   string  `json:"fileId"`
	SHA256   string  `json:"sha256"`
	Verdict  Verdict `json:"verdict"`
	Previous Verdict `json:"previous"`
}

// EngineUpdated is published by a scanner when its signature version
// changes. The api then asks that engine, and only it, to rescan recent
// content.
type EngineUpdated struct {
	Version          int    `json:"version"`
	Engine           string `json:"engine"`
	EngineVersion    string `json:"engineVersion"`
	SignatureVersion string `json:"signatureVersion"`
	Previous         string `json:"previous,omitempty"`
}

// Outcome is one engine's normalized answer.
type Outcome string

// Engine outcomes.
const (
	Clean      Outcome = "clean"
	Malicious  Outcome = "malicious"
	Suspicious Outcome = "suspicious"
	Error      Outcome = "error"
	Skipped    Outcome = "skipped"
)

// Valid reports whether o is one of the defined outcomes.
func (o Outcome) Valid() bool {
	switch o {
	case Clean, Malicious, Suspicious, Error, Skipped:
		return true
	}
	return false
}

// Result is one engine's normalized scan result, as served by
// GET /v1/files/{id}/scans and carried by scan.completed.
type Result struct {
	Engine           string    `json:"engine"`
	Result           Outcome   `json:"result"`
	Threats          []string  `json:"threats"`
	EngineVersion    string    `json:"engineVersion"`
	SignatureVersion string    `json:"signatureVersion"`
	ScannedAt        time.Time `json:"scannedAt"`
	DurationMs       int64     `json:"durationMs"`
	Detail           string    `json:"detail,omitempty"`
}

// Verdict is the overall judgement on a file.
type Verdict string

// Verdicts.
const (
	VerdictPending    Verdict = "pending"
	VerdictClean      Verdict = "clean"
	VerdictMalicious  Verdict = "malicious"
	VerdictSuspicious Verdict = "suspicious"
	VerdictUnscanned  Verdict = "unscanned"
)

// Final reports whether v is a terminal verdict.
func (v Verdict) Final() bool { return v != VerdictPending && v != "" }
