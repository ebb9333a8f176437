package files

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/intellidox/intellidox/internal/contract"
)

func TestCreateOutcome(t *testing.T) {
	tests := []struct {
		name      string
		owned     bool
		state     string
		blobSize  int64
		verdict   contract.Verdict
		size      int64
		status    Status
		wantErr   error
		wantFinal contract.Verdict
	}{
		{"new content", false, BlobNew, 10, contract.VerdictPending, 10, AwaitingUpload, nil, contract.VerdictPending},
		{"another tenant's verified content", false, BlobVerified, 10, contract.VerdictMalicious, 10, AwaitingUpload, nil, contract.VerdictPending},
		{"another tenant's content, another size", false, BlobVerified, 10, contract.VerdictClean, 11, AwaitingUpload, nil, contract.VerdictPending},
		{"content in flight", false, BlobProcessing, 10, contract.VerdictPending, 10, AwaitingUpload, nil, contract.VerdictPending},
		{"own verified content", true, BlobVerified, 10, contract.VerdictMalicious, 10, Done, nil, contract.VerdictMalicious},
		{"own content, verdict pending", true, BlobVerified, 10, contract.VerdictPending, 10, Processing, nil, contract.VerdictPending},
		{"own content, another size", true, BlobVerified, 10, contract.VerdictClean, 11, "", ErrSizeConflict, ""},
		{"own empty content", true, BlobVerified, 0, contract.VerdictClean, 0, Done, nil, contract.VerdictClean},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, v, err := CreateOutcome(tt.owned, tt.state, tt.blobSize, tt.verdict, tt.size)
			assert.ErrorIs(t, err, tt.wantErr)
			assert.Equal(t, tt.status, st)
			assert.Equal(t, tt.wantFinal, v)
		})
	}
}

func TestOnConfirm(t *testing.T) {
	tests := []struct {
		owned bool
		state string
		final bool
		want  Dispatch
	}{
		{false, BlobNew, false, Carry},
		{false, BlobRejected, false, Carry},
		{false, BlobProcessing, false, Wait},
		{false, BlobVerified, false, Wait},
		{false, BlobVerified, true, Verify},
		{true, BlobVerified, true, Finish},
		{true, BlobVerified, false, Wait},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, OnConfirm(tt.owned, tt.state, tt.final), "%+v", tt)
	}
}

func TestOnExtraction(t *testing.T) {
	tests := []struct {
		rejected bool
		state    string
		carrier  bool
		want     Extraction
	}{
		{false, BlobProcessing, true, VerifyContent},
		{false, BlobRejected, false, VerifyContent},
		{false, BlobVerified, false, ProveUpload},
		{false, BlobVerified, true, ProveUpload},
		{true, BlobProcessing, true, RejectContent},
		{true, BlobVerified, true, Ignore},
		{true, BlobVerified, false, RejectUpload},
		{true, BlobProcessing, false, RejectUpload},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, OnExtraction(tt.rejected, tt.state, tt.carrier), "%+v", tt)
	}
}

func TestRedact(t *testing.T) {
	f := File{MD5: "m", SHA1: "s", MIMEType: "application/pdf", Metadata: []byte(`{"pdf":{"author":"A"}}`), SHA256: "h"}
	r := Redact(f)
	assert.Equal(t, File{SHA256: "h", Metadata: []byte(`{"findings":[]}`)}, r)
	f.Owned = true
	assert.Equal(t, f, Redact(f))
}
