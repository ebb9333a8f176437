package archive

import "strings"

// pathFlags returns the path-traversal flags of a member name.
func pathFlags(name string) []string {
	var flags []string
	n := strings.ReplaceAll(name, `\`, "/")
	if strings.HasPrefix(n, "/") {
		flags = append(flags, "absolute")
	}
	if len(n) >= 2 && n[1] == ':' && (n[0]|0x20 >= 'a' && n[0]|0x20 <= 'z') {
		flags = append(flags, "driveLetter")
	}
	for part := range strings.SplitSeq(n, "/") {
		if part == ".." {
			flags = append(flags, "dotdot")
			break
		}
	}
	return flags
}

// linkEscapes reports whether a link named name pointing at target resolves
// outside the archive root.
func linkEscapes(name, target string) bool {
	t := strings.ReplaceAll(target, `\`, "/")
	if strings.HasPrefix(t, "/") || (len(t) >= 2 && t[1] == ':') {
		return true
	}
	// Resolve target relative to the directory holding name.
	depth := 0
	parts := strings.Split(strings.ReplaceAll(name, `\`, "/"), "/")
	for _, p := range parts[:len(parts)-1] {
		switch p {
		case "", ".":
		case "..":
			depth--
		default:
			depth++
		}
	}
	for p := range strings.SplitSeq(t, "/") {
		switch p {
		case "", ".":
		case "..":
			depth--
			if depth < 0 {
				return true
			}
		default:
			depth++
		}
	}
	return false
}

func traversal(flags []string) bool {
	for _, f := range flags {
		switch f {
		case "dotdot", "absolute", "driveLetter", "throughLink":
			return true
		}
	}
	return false
}

// maxEscapes bounds the escaping links remembered per file.
const maxEscapes = 10_000

// underLink reports whether a member path lies under one of the links in
// escapes: extracting it would write through the link, outside the target.
func underLink(escapes map[string]bool, p string) bool {
	if len(escapes) == 0 {
		return false
	}
	p = strings.TrimPrefix(strings.ReplaceAll(p, `\`, "/"), "./")
	for i := 0; i < len(p); i++ {
		if p[i] == '/' && escapes[strings.TrimSuffix(p[:i], "/")] {
			return true
		}
	}
	return false
}
