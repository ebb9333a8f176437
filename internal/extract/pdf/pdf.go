// Package pdf reads the properties of a PDF document that matter before
// opening it: version, pages, document information, encryption, and
// whether it carries JavaScript, automatic actions, embedded files or
// forms.
//
// It is a tolerant, streaming scanner rather than a full PDF library: it
// tokenizes the file once from start to end, parses each object, looks
// inside compressed object streams (where PDF 1.5+ hides most dictionaries)
// and never needs the cross-reference table, so damaged or truncated files
// still yield what they contain. Names are compared after #xx decoding
// (/J#61vaScript is /JavaScript).
package pdf

import (
	"bytes"
	"compress/zlib"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/intellidox/intellidox/internal/contract"
)

// Info is the PDF metadata of a file (metadata["pdf"]).
type Info struct {
	Version   string `json:"version"`   // from the header, or the catalog's /Version if later
	PageCount int    `json:"pageCount"` // from the page tree, or counted pages
	// Document information. Empty when absent, or when the document is
	// encrypted and was not opened (its strings are then ciphertext).
	Title        string `json:"title,omitempty"`
	Author       string `json:"author,omitempty"`
	Creator      string `json:"creator,omitempty"`
	Producer     string `json:"producer,omitempty"`
	CreationDate string `json:"creationDate,omitempty"` // RFC 3339 when parseable, else as written
	ModDate      string `json:"modDate,omitempty"`
	Encrypted    bool   `json:"encrypted"`
	// Encryption names the cipher of an encrypted document ("AES-256",
	// "RC4 128-bit"...). Decrypted says its content was read through it:
	// the empty user password or a listed one opened it, and UnlockedBy
	// then names the password list, "" for the empty password. Never the
	// password.
	Encryption string `json:"encryption,omitempty"`
	Decrypted  bool   `json:"decrypted,omitempty"`
	UnlockedBy string `json:"unlockedBy,omitempty"`
	// HasJavaScript: a /JavaScript or /JS name anywhere.
	HasJavaScript bool `json:"hasJavaScript"`
	// HasAutoAction: /OpenAction or /AA (additional actions), which run
	// when the document or a page opens.
	HasAutoAction bool `json:"hasAutoAction"`
	// HasEmbeddedFiles: an /EmbeddedFiles name tree or /EmbeddedFile stream.
	HasEmbeddedFiles bool `json:"hasEmbeddedFiles"`
	// HasForms: interactive form fields (/FT) or an XFA form.
	HasForms    bool `json:"hasForms"`
	ObjectCount int  `json:"objectCount"` // objects seen, including those in object streams
	// Damaged is true when the file did not parse to its end cleanly
	// (truncated, or no %PDF header): the fields hold what was found.
	Damaged bool `json:"damaged,omitempty"`

	sec    *Security // the security handler of an encrypted document
	secErr error     // why it cannot be opened, if it cannot
}

// Security returns the security handler of an encrypted document, or the
// error that says why it cannot be opened; nil, nil when the document is
// not encrypted.
func (i *Info) Security() (*Security, error) { return i.sec, i.secErr }

// Caps on the work one file may cause.
const (
	maxDepth       = 64      // nesting of arrays and dictionaries kept
	maxItems       = 10_000  // entries kept per array or dictionary
	maxKept        = 100_000 // values kept per object, all levels together
	maxKeptBytes   = 4 << 20 // string and name bytes kept per object
	maxObjects     = 1 << 20 // objects parsed
	maxInfoStrings = 10_000  // indirect string objects remembered for /Info
)

// Scan reads a PDF from r (once, to its end) and returns its properties.
// It records what it could on damaged input, and returns findings only
// for limits that tripped. maxInflate bounds the bytes decompressed from
// object streams in total.
func Scan(ctx context.Context, r io.Reader, maxInflate int64) (*Info, []contract.Finding) {
	return ScanDecrypted(ctx, r, maxInflate, nil)
}

// ScanDecrypted is Scan of an encrypted PDF that Security.Unlock opened
// with dec: strings and object streams are decrypted before they are
// read.
func ScanDecrypted(ctx context.Context, r io.Reader, maxInflate int64, dec *Decrypter) (*Info, []contract.Finding) {
	s := &scanner{ctx: ctx, info: &Info{}, infoDicts: map[int]dict{}, strs: map[int]string{}, budget: maxInflate,
		dec: dec, cur: ref{num: -1}}
	br := newReader(r)
	// The header may follow some junk; readers accept it within 1 KiB.
	br.fill(1024)
	head := br.buf[br.pos:br.end]
	if i := bytes.Index(head[:min(len(head), 1024)], []byte("%PDF-")); i >= 0 {
		v := head[i+5:]
		n := 0
		for n < len(v) && n < 4 && (v[n] == '.' || (v[n] >= '0' && v[n] <= '9')) {
			n++
		}
		s.info.Version = string(v[:n])
	} else {
		s.info.Damaged = true
	}
	s.scan(&lexer{r: br})
	if br.err != nil && br.err != io.EOF {
		s.info.Damaged = true
	}
	s.finish()
	return s.info, s.findings
}

type (
	dict  map[string]any
	array []any
	name  string
	ref   struct{ num, gen int }
	// keyword is a bare word inside an object (true, false, null, junk).
	keyword string
)

type scanner struct {
	ctx       context.Context
	info      *Info
	findings  []contract.Finding
	trailers  []dict
	infoDicts map[int]dict // objects that look like a document information dictionary
	lastInfo  dict
	strs      map[int]string // indirect string objects, for /Info values given by reference
	pages     int            // /Type /Page dictionaries seen
	maxCount  int            // the largest /Count of a /Type /Pages
	catalogV  string
	budget    int64 // bytes object streams may still inflate to
	objects   int
	// files, when not nil, collects the names of embedded files: the
	// object number of each stream a file specification's /EF points at,
	// and the name the specification gives.
	files map[int]string
	// dec decrypts the strings and streams of object cur (num -1 outside
	// objects and inside object streams, whose content is decrypted as a
	// whole).
	dec *Decrypter
	cur ref
	// enc holds the dictionaries that may be the /Encrypt one, by object;
	// finish finds the trailer's and reads it into sec, or why not into
	// secErr.
	enc    map[int]dict
	sec    *Security
	secErr error
	// What the object being parsed may still keep in memory: the rest is
	// parsed and dropped, so that memory stays proportional to these caps
	// and not to the file.
	kept, keptBytes int
}

// keep reports whether a value of n bytes may be kept, and accounts for it.
func (s *scanner) keep(n int) bool {
	if s.kept >= maxKept || s.keptBytes+n > maxKeptBytes {
		return false
	}
	s.kept++
	s.keptBytes += n
	return true
}

func valueSize(v any) int {
	switch v := v.(type) {
	case string:
		return len(v)
	case name:
		return len(v)
	}
	return 0
}

// scan parses top-level objects ("num gen obj ... endobj") and trailers
// from l until its end, ignoring whatever lies between them.
func (s *scanner) scan(l *lexer) {
	var prev2, prev1 token // the two tokens before "obj": number and generation
	for s.ctx.Err() == nil {
		t := l.token()
		switch {
		case t.kind == tEOF:
			return
		case t.kind == tKeyword && t.s == "obj":
			num, gen := -1, 0
			if prev2.kind == tNumber && prev2.isInt && prev1.kind == tNumber && prev1.isInt {
				num, gen = int(prev2.num), int(prev1.num)
			}
			s.object(l, num, gen)
		case t.kind == tKeyword && t.s == "trailer":
			s.kept, s.keptBytes = 0, 0
			if d, ok := s.value(l, l.token(), 0).(dict); ok {
				s.addTrailer(d)
				s.visit(d, 0)
			}
		}
		prev2, prev1 = prev1, t
	}
}

// object parses the body of object num, generation gen (after "num gen
// obj").
func (s *scanner) object(l *lexer, num, gen int) {
	s.kept, s.keptBytes = 0, 0
	s.objects++
	if s.objects > maxObjects {
		return
	}
	s.cur = ref{num, gen}
	defer func() { s.cur = ref{num: -1} }()
	v := s.value(l, l.token(), 0)
	t := l.token()
	if t.kind == tKeyword && t.s == "stream" {
		d, _ := v.(dict)
		s.stream(l, d)
		t = l.token()
		if t.kind == tKeyword && t.s == "endstream" {
			t = l.token()
		}
	}
	if !(t.kind == tKeyword && t.s == "endobj") {
		l.push(t)
	}
	s.record(num, v)
}

// maxTrailers bounds the trailers kept; the last ones matter.
const maxTrailers = 1000

func (s *scanner) addTrailer(d dict) {
	if len(s.trailers) == maxTrailers {
		s.trailers = s.trailers[1:]
	}
	s.trailers = append(s.trailers, d)
}

// record remembers what /Info may point at, and inspects dictionaries.
func (s *scanner) record(num int, v any) {
	switch v := v.(type) {
	case dict:
		s.visit(v, 0)
		if isInfo(v) {
			s.lastInfo = v
			if num >= 0 && len(s.infoDicts) < maxInfoStrings {
				s.infoDicts[num] = v
			}
		}
		if t, _ := v["Type"].(name); t == "XRef" {
			s.addTrailer(v) // a cross-reference stream is also the trailer
		}
		if _, ok := v["Filter"].(name); ok && v["O"] != nil && v["U"] != nil && num >= 0 && len(s.enc) < maxEncryptDicts {
			if s.enc == nil {
				s.enc = map[int]dict{}
			}
			s.enc[num] = v
		}
	case string:
		if num >= 0 && len(s.strs) < maxInfoStrings && len(v) <= 1024 {
			s.strs[num] = v
		}
	}
}

func isInfo(d dict) bool {
	for _, k := range []string{"Title", "Author", "Producer", "Creator", "CreationDate", "ModDate"} {
		if _, ok := d[k]; ok {
			return true
		}
	}
	return false
}

// value parses the value starting with token t.
func (s *scanner) value(l *lexer, t token, depth int) any {
	if depth > maxDepth && (t.kind == tDictOpen || t.kind == tArrayOpen) {
		// Deeper than anything real: skip it without recursing, so that
		// a file of a billion "[" cannot overflow the stack (a fatal,
		// unrecoverable error in Go).
		skipNested(l)
		return nil
	}
	switch t.kind {
	case tName:
		return name(t.s)
	case tString:
		if s.dec != nil && s.cur.num >= 0 {
			return s.dec.string(s.cur.num, s.cur.gen, t.s)
		}
		return t.s
	case tNumber:
		if !t.isInt || t.num < 0 {
			return t.num
		}
		// "num gen R" is a reference.
		t2 := l.token()
		if t2.kind == tNumber && t2.isInt {
			t3 := l.token()
			if t3.kind == tKeyword && t3.s == "R" {
				return ref{int(t.num), int(t2.num)}
			}
			l.push(t3)
		}
		l.push(t2)
		return t.num
	case tDictOpen:
		d := dict{}
		for {
			k := l.token()
			if k.kind == tDictClose || k.kind == tEOF {
				return d
			}
			if k.kind != tName {
				// A malformed dictionary: a stray "stream" or "endobj" means it never closed.
				if k.kind == tKeyword && (k.s == "stream" || k.s == "endobj" || k.s == "obj") {
					l.push(k)
					return d
				}
				continue
			}
			vt := l.token()
			if vt.kind == tDictClose {
				s.visitName(k.s)
				return d
			}
			v := s.value(l, vt, depth+1)
			if depth < maxDepth && len(d) < maxItems && s.keep(len(k.s)+valueSize(v)) {
				d[k.s] = v
			}
		}
	case tArrayOpen:
		var a array
		for {
			it := l.token()
			if it.kind == tArrayClose || it.kind == tEOF {
				return a
			}
			if it.kind == tKeyword && (it.s == "stream" || it.s == "endobj" || it.s == "obj") {
				l.push(it)
				return a
			}
			v := s.value(l, it, depth+1)
			if depth < maxDepth && len(a) < maxItems && s.keep(valueSize(v)) {
				a = append(a, v)
			}
		}
	case tKeyword:
		return keyword(t.s)
	}
	return nil
}

// skipNested consumes tokens until the array or dictionary just opened is
// closed (or the input ends), counting nesting iteratively.
func skipNested(l *lexer) {
	for open := 1; open > 0; {
		switch t := l.token(); t.kind {
		case tEOF:
			return
		case tDictOpen, tArrayOpen:
			open++
		case tDictClose, tArrayClose:
			open--
		case tKeyword:
			if t.s == "stream" || t.s == "endobj" || t.s == "obj" {
				l.push(t)
				return
			}
		}
	}
}

// visit inspects a dictionary and everything inside it.
func (s *scanner) visit(v any, depth int) {
	if depth > maxDepth {
		return
	}
	switch v := v.(type) {
	case dict:
		if s.files != nil {
			s.fileSpec(v)
		}
		for k, x := range v {
			s.visitName(k)
			switch k {
			case "OpenAction", "AA":
				s.info.HasAutoAction = true
			case "EmbeddedFiles", "EF":
				s.info.HasEmbeddedFiles = true
			case "FT", "XFA":
				s.info.HasForms = true
			case "Encrypt":
				if depth == 0 && s.isTrailer(v) {
					s.info.Encrypted = true
				}
			}
			s.visit(x, depth+1)
		}
		switch t, _ := v["Type"].(name); t {
		case "Pages":
			if c, ok := v["Count"].(float64); ok && c > float64(s.maxCount) && c < 1e9 {
				s.maxCount = int(c)
			}
		case "Page":
			s.pages++
		case "Catalog":
			if ver, ok := v["Version"].(name); ok {
				s.catalogV = string(ver)
			}
		}
	case array:
		for _, x := range v {
			s.visit(x, depth+1)
		}
	case name:
		s.visitName(string(v))
	}
}

// maxFileNames bounds the embedded file names remembered.
const maxFileNames = 10_000

// fileSpec records the name of the files a file specification (a
// dictionary with /EF) embeds: its /UF (a text string), else its /F.
func (s *scanner) fileSpec(d dict) {
	ef, ok := d["EF"].(dict)
	if !ok {
		return
	}
	var fname string
	for _, k := range []string{"UF", "F"} {
		if v, ok := d[k].(string); ok && text(v) != "" {
			fname = text(v)
			break
		}
	}
	for _, v := range ef {
		if r, ok := v.(ref); ok && fname != "" && len(s.files) < maxFileNames {
			s.files[r.num] = fname
		}
	}
}

// maxNameInflate bounds what the pass for embedded file names inflates of
// object streams.
const maxNameInflate = 64 << 20

// embeddedNames parses a PDF as Scan does and returns the names that file
// specifications give embedded file streams, by object number.
func embeddedNames(ctx context.Context, r io.Reader) map[int]string {
	s := &scanner{ctx: ctx, info: &Info{}, infoDicts: map[int]dict{}, strs: map[int]string{},
		budget: maxNameInflate, files: map[int]string{}}
	s.scan(&lexer{r: newReader(r)})
	return s.files
}

// isTrailer tells a trailer (which has /Root or /Size) from another
// dictionary that happens to have an /Encrypt key.
func (s *scanner) isTrailer(d dict) bool {
	_, root := d["Root"]
	_, size := d["Size"]
	return root || size
}

func (s *scanner) visitName(n string) {
	switch n {
	case "JavaScript", "JS":
		s.info.HasJavaScript = true
	case "EmbeddedFile", "EmbeddedFiles":
		s.info.HasEmbeddedFiles = true
	case "XFA":
		s.info.HasForms = true
	}
}

var (
	endstream = []byte("endstream")
	errBudget = errors.New("pdf: inflate budget spent")
)

// stream handles the data after "stream": object streams are inflated and
// scanned, other data is skipped.
func (s *scanner) stream(l *lexer, d dict) {
	r := l.r
	// The data starts after the end of line that follows "stream".
	if r.peek() == '\r' {
		r.next()
	}
	if r.peek() == '\n' {
		r.next()
	}
	t, _ := d["Type"].(name)
	if t != "ObjStm" || !flateOnly(d) {
		r.skipPast(endstream)
		return
	}
	var data io.Reader = r.until(endstream)
	defer func(all io.Reader) { _, _ = io.Copy(io.Discard, all) }(data)
	if s.dec != nil {
		// Decrypted as a whole, within the inflate budget: the ciphertext
		// is no larger than what it inflates to, bar a few bytes.
		raw, _ := io.ReadAll(io.LimitReader(data, max(s.budget, 0)+64))
		data = bytes.NewReader(s.dec.stream(s.cur.num, s.cur.gen, d, raw))
		outer := s.cur
		s.cur = ref{num: -1} // the objects inside are not encrypted one by one
		defer func() { s.cur = outer }()
	}
	zr, err := zlib.NewReader(data)
	if err != nil {
		return // encrypted or damaged: nothing to see
	}
	first, _ := d["First"].(float64)
	n, _ := d["N"].(float64)
	lim := &budgetReader{s: s, r: zr}
	br := newReader(lim)
	hl := &lexer{r: br}
	// The header is N pairs "object-number offset"; objects follow at First.
	nums := make([]int, 0, min(int(max(n, 0)), 4096))
	for i := 0; i < int(n) && i < maxItems; i++ {
		a, b := hl.token(), hl.token()
		if a.kind != tNumber || b.kind != tNumber {
			break
		}
		nums = append(nums, int(a.num))
	}
	if br.read < int64(first) {
		skip := int64(first) - br.read
		for skip > 0 && br.next() >= 0 {
			skip--
		}
	}
	for i := 0; s.ctx.Err() == nil; i++ {
		t := hl.token()
		if t.kind == tEOF {
			break
		}
		num := -1
		if i < len(nums) {
			num = nums[i]
		}
		s.objects++
		if s.objects > maxObjects {
			break
		}
		s.kept, s.keptBytes = 0, 0
		s.record(num, s.value(hl, t, 0))
	}
	if errors.Is(br.err, errBudget) {
		s.findings = append(s.findings, contract.Finding{Code: "uncompressed_too_large", Effect: contract.VerdictUnscanned,
			Message: "the PDF's object streams decompress to more than the limit; the rest was not inspected"})
	}
}

// flateOnly reports whether a stream is compressed with FlateDecode alone,
// without a predictor.
func flateOnly(d dict) bool {
	if _, ok := d["DecodeParms"]; ok {
		return false
	}
	switch f := d["Filter"].(type) {
	case name:
		return f == "FlateDecode"
	case array:
		return len(f) == 1 && f[0] == name("FlateDecode")
	}
	return false
}

// budgetReader stops inflating once the scanner's budget is spent.
type budgetReader struct {
	s *scanner
	r io.Reader
}

func (b *budgetReader) Read(p []byte) (int, error) {
	if b.s.budget <= 0 {
		return 0, errBudget
	}
	if err := b.s.ctx.Err(); err != nil {
		return 0, err
	}
	if int64(len(p)) > b.s.budget {
		p = p[:b.s.budget]
	}
	n, err := b.r.Read(p)
	b.s.budget -= int64(n)
	return n, err
}

// maxEncryptDicts bounds the dictionaries kept as /Encrypt candidates.
const maxEncryptDicts = 64

// finish resolves the document information, the page count and the
// security handler.
func (s *scanner) finish() {
	s.info.ObjectCount = s.objects
	s.security()
	if s.catalogV != "" && versionLess(s.info.Version, s.catalogV) {
		s.info.Version = s.catalogV
	}
	s.info.PageCount = s.maxCount
	if s.info.PageCount == 0 {
		s.info.PageCount = s.pages
	}
	var info dict
	for i := len(s.trailers) - 1; i >= 0 && info == nil; i-- {
		switch v := s.trailers[i]["Info"].(type) {
		case ref:
			info = s.infoDicts[v.num]
		case dict:
			info = v
		}
	}
	if info == nil {
		info = s.lastInfo
	}
	if info == nil || (s.info.Encrypted && s.dec == nil) {
		return
	}
	str := func(k string) string {
		switch v := info[k].(type) {
		case string:
			return text(v)
		case ref:
			return text(s.strs[v.num])
		}
		return ""
	}
	s.info.Title, s.info.Author = str("Title"), str("Author")
	s.info.Creator, s.info.Producer = str("Creator"), str("Producer")
	s.info.CreationDate, s.info.ModDate = date(str("CreationDate")), date(str("ModDate"))
}

func versionLess(a, b string) bool {
	fa, errA := strconv.ParseFloat(a, 64)
	fb, errB := strconv.ParseFloat(b, 64)
	return errB == nil && (errA != nil || fa < fb)
}

// maxText bounds the length of a string reported from a document.
const maxText = 256

// text decodes a PDF text string (UTF-16 with a byte-order mark, UTF-8 with
// one, else PDFDocEncoding, read as Latin-1) and drops control characters.
func text(s string) string {
	var rs []rune
	switch {
	case strings.HasPrefix(s, "\xfe\xff") || strings.HasPrefix(s, "\xff\xfe"):
		be := s[0] == 0xfe
		b := []byte(s[2:])
		u := make([]uint16, len(b)/2)
		for i := range u {
			if be {
				u[i] = uint16(b[2*i])<<8 | uint16(b[2*i+1])
			} else {
				u[i] = uint16(b[2*i+1])<<8 | uint16(b[2*i])
			}
		}
		rs = utf16.Decode(u)
	case strings.HasPrefix(s, "\xef\xbb\xbf") && utf8.ValidString(s[3:]):
		rs = []rune(s[3:])
	default:
		for i := 0; i < len(s); i++ {
			rs = append(rs, rune(s[i]))
		}
	}
	var b strings.Builder
	n := 0
	for _, r := range rs {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == utf8.RuneError {
			continue
		}
		if n == maxText {
			b.WriteString("…")
			break
		}
		b.WriteRune(r)
		n++
	}
	return strings.TrimSpace(b.String())
}

// date converts a PDF date (D:YYYYMMDDHHmmSSOHH'mm') to RFC 3339. A date it
// cannot parse is returned as written.
func date(s string) string {
	d := strings.TrimPrefix(strings.TrimSpace(s), "D:")
	if len(d) < 4 {
		return s
	}
	digits := func(i, n, def int) (int, bool) {
		if len(d) < i+n {
			return def, true
		}
		v, err := strconv.Atoi(d[i : i+n])
		return v, err == nil
	}
	y, ok1 := digits(0, 4, 0)
	mo, ok2 := digits(4, 2, 1)
	da, ok3 := digits(6, 2, 1)
	h, ok4 := digits(8, 2, 0)
	mi, ok5 := digits(10, 2, 0)
	se, ok6 := digits(12, 2, 0)
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || mo < 1 || mo > 12 || da < 1 || da > 31 || h > 23 || mi > 59 || se > 60 {
		return s
	}
	loc := time.UTC
	if len(d) > 14 {
		switch tz := d[14:]; tz[0] {
		case '+', '-':
			tz = strings.ReplaceAll(tz[1:], "'", "")
			oh, err1 := strconv.Atoi(tz[:min(2, len(tz))])
			om := 0
			var err2 error
			if len(tz) >= 4 {
				om, err2 = strconv.Atoi(tz[2:4])
			}
			if err1 != nil || err2 != nil || oh > 23 || om > 59 {
				return s
			}
			off := oh*3600 + om*60
			if d[14] == '-' {
				off = -off
			}
			loc = time.FixedZone("", off)
		}
	}
	return time.Date(y, time.Month(mo), da, h, mi, se, 0, loc).Format(time.RFC3339)
}

// security reads the /Encrypt dictionary of the last trailer that names
// one into s.sec (or why it cannot be read into s.secErr), and its cipher
// into the document's Encryption.
func (s *scanner) security() {
	for i := len(s.trailers) - 1; i >= 0; i-- {
		t := s.trailers[i]
		switch e := t["Encrypt"].(type) {
		case nil:
			continue
		case ref:
			if d, ok := s.enc[e.num]; ok {
				s.sec, s.secErr = security(d, e.num, t)
			} else {
				s.secErr = errHandler{fmt.Sprintf("the /Encrypt dictionary (object %d) was not found", e.num)}
			}
		case dict:
			s.sec, s.secErr = security(e, -1, t)
		default:
			s.secErr = errHandler{"the /Encrypt entry is not a dictionary"}
		}
		break
	}
	if s.sec != nil {
		s.info.Encryption = s.sec.Method()
	}
	s.info.sec, s.info.secErr = s.sec, s.secErr
}
