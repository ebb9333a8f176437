package archive

// Limits bound the work spent inside archives. They exist because an archive
// can claim (or decompress to) far more than it occupies: a zip bomb, a
// quine, or an archive nested a hundred levels deep. A zero field means "use
// the default".
type Limits struct {
	// MaxArchiveDepth is the deepest nesting of containers that is opened: 1
	// opens only the top-level archive, 2 also archives inside it, and so on.
	// A gzip stream that wraps a tar counts as one level (a .tar.gz is one
	// archive).
	MaxArchiveDepth int
	// MaxArchiveEntries bounds the members visited, counted over every
	// nesting level together.
	MaxArchiveEntries int
	// MaxUncompressedSize bounds the total number of bytes decompressed for
	// one file, counted as they come out of the decompressor (headers are
	// never trusted for this), and the total uncompressed size an archive may
	// declare before it counts as a bomb.
	MaxUncompressedSize int64
	// MaxCompressionRatio is the largest ratio of uncompressed to compressed
	// bytes accepted before an archive is reported as a zip bomb.
	MaxCompressionRatio float64
	// MaxNestedArchiveSize bounds the memory held for nested zip archives,
	// which need random access and so are buffered. A nested zip larger than
	// what remains of it is reported as not inspected.
	MaxNestedArchiveSize int64
	// MaxDictionarySize bounds the memory one decoder may allocate for its
	// dictionary or model (7z LZMA, LZMA2 and PPMd, RAR), which the archive
	// declares and decoders allocate whole before decoding a byte. Content
	// that needs more is not decompressed: dictionary_too_large.
	MaxDictionarySize int64
	// Passwords are tried, list by list, on encrypted members (zip, 7z,
	// RAR). They are not a limit, but they travel with the limits to every
	// caller that opens archives. Nil means the built-in list alone; an
	// empty, non-nil slice tries none.
	Passwords []Passwords
}

// Defaults for Limits.
const (
	DefaultMaxArchiveDepth      = 5
	DefaultMaxArchiveEntries    = 10_000
	DefaultMaxUncompressedSize  = 1 << 30 // 1 GiB
	DefaultMaxCompressionRatio  = 100
	DefaultMaxNestedArchiveSize = 32 << 20 // 32 MiB
	// DefaultMaxDictionarySize covers 7-Zip's strongest preset (-mx9, a
	// 64 MiB dictionary) with room to spare, and RAR's default 32 MiB
	// window; RAR 7 allows 64 GiB.
	DefaultMaxDictionarySize = 256 << 20 // 256 MiB
)

// DefaultLimits returns the default limits.
func DefaultLimits() Limits {
	return Limits{
		MaxArchiveDepth:      DefaultMaxArchiveDepth,
		MaxArchiveEntries:    DefaultMaxArchiveEntries,
		MaxUncompressedSize:  DefaultMaxUncompressedSize,
		MaxCompressionRatio:  DefaultMaxCompressionRatio,
		MaxNestedArchiveSize: DefaultMaxNestedArchiveSize,
		MaxDictionarySize:    DefaultMaxDictionarySize,
		Passwords:            []Passwords{Builtin()},
	}
}

// WithDefaults returns l with every zero (or negative) field set to its
// default.
func (l Limits) WithDefaults() Limits {
	d := DefaultLimits()
	if l.MaxArchiveDepth <= 0 {
		l.MaxArchiveDepth = d.MaxArchiveDepth
	}
	if l.MaxArchiveEntries <= 0 {
		l.MaxArchiveEntries = d.MaxArchiveEntries
	}
	if l.MaxUncompressedSize <= 0 {
		l.MaxUncompressedSize = d.MaxUncompressedSize
	}
	if l.MaxCompressionRatio <= 0 {
		l.MaxCompressionRatio = d.MaxCompressionRatio
	}
	if l.MaxNestedArchiveSize <= 0 {
		l.MaxNestedArchiveSize = d.MaxNestedArchiveSize
	}
	if l.MaxDictionarySize <= 0 {
		l.MaxDictionarySize = d.MaxDictionarySize
	}
	if l.Passwords == nil {
		l.Passwords = d.Passwords
	}
	return l
}
