package live

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/intellidox/intellidox/internal/contract"
)

func TestRelayed(t *testing.T) {
	h := NewHub()
	const sha = "aa"
	updates, cancel := h.Watch(sha)
	defer cancel()
	other, cancelOther := h.Watch("bb")
	defer cancelOther()

	completed, err := json.Marshal(contract.FileCompleted{FileID: "f1", SHA256: sha, Status: "done",
		Verdict: contract.VerdictClean})
	require.NoError(t, err)
	scan, err := json.Marshal(contract.ScanCompleted{FileID: "f1", SHA256: sha})
	require.NoError(t, err)

	h.Relayed(contract.TopicFileUploaded, []byte(`{"sha256":"aa"}`)) // not an update streams show
	h.Relayed(contract.TopicScanCompleted, scan)                     // results come from the scanners
	h.Relayed(contract.TopicFileCompleted, []byte(`{"sha256":`))     // malformed: ignored, no panic
	h.Relayed(contract.TopicFileCompleted, completed)

	require.Len(t, updates, 1, "only the file.completed reaches the watchers")
	u := <-updates
	require.NotNil(t, u.Completed)
	assert.Nil(t, u.Scan)
	assert.Equal(t, "f1", u.Completed.FileID)
	assert.Equal(t, contract.VerdictClean, u.Completed.Verdict)
	assert.Empty(t, other, "watchers of other content see nothing")
}
