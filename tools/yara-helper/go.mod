// The YARA helper: libyara in one long-lived process per scan slot
// (internal/scan/yara). A module of its own because it needs cgo and
// Debian's libyara-dev and go-yara source (golang-github-hillu-go-yara-dev,
// installed by scripts/infra.sh), which the module proxy does not serve:
// the main module stays free of cgo.
module github.com/intellidox/intellidox/tools/yara-helper

go 1.26

require github.com/hillu/go-yara/v4 v4.2.4

replace github.com/hillu/go-yara/v4 => /usr/share/gocode/src/github.com/hillu/go-yara
