package testenv

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// On the k8s profile a test's settings roll only the apps that read them;
// the README's configuration table says which. A setting rolled to too few
// apps would not take effect, so the table is checked here as the suite
// reads it.
func TestSettingApps(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(Root(), "README.md"))
	require.NoError(t, err)
	scanners := []string{"scanner-clamav", "scanner-node-example", "scanner-reputation", "scanner-yara"}
	all := []string{"api", "extractor", "scanner-clamav", "scanner-node-example", "scanner-reputation", "scanner-yara"}
	for key, want := range map[string][]string{
		"DATABASE_URL":             {"api"},
		"MAX_FILE_SIZE":            {"api"},
		"MULTIPART_TTL":            {"api"}, // the second name of its row
		"WEBHOOK_RETRY_SCHEDULE":   {"api"},
		"EXTRACT_VIEWS":            {"extractor"},
		"SIGNATURE_CHECK_INTERVAL": scanners,
		"REPUTATION_POLL":          {"scanner-reputation"},
		"YARA_MAX_SIZE":            {"scanner-yara"},
		"CLAMAV_MAX_SIZE":          {"scanner-clamav"},
		"LOG_LEVEL":                all, // "all apps"
		"S3_BUCKET":                all, // "api, blobstore": a component reads it too
		"NO_SUCH_SETTING":          all,
		"MAX_FILE":                 all, // a prefix of a setting is not that setting
	} {
		assert.Equal(t, want, settingApps(readme, key), key)
	}
}
