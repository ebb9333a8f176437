package archive

// Passwords is a list of archive passwords and the name of where it came
// from. The name, never a password, is what metadata and scan details show
// when a member was opened with one of them.
type Passwords struct {
	// Source names the list: "builtin" for the list every file is tried
	// with; a tenant's or an upload's list would carry its own name.
	Source string
	List   []string
}

// SourceBuiltin names the built-in password list.
const SourceBuiltin = "builtin"

// Builtin is the password list tried on every encrypted archive: the
// passwords malware samples are conventionally shared under.
func Builtin() Passwords {
	return Passwords{Source: SourceBuiltin, List: []string{"infected", "malware", "virus"}}
}

// maxPasswordTries bounds the passwords tried on one encrypted member, over
// every list: each try may cost a key derivation and a decompression pass.
const maxPasswordTries = 16

// candidate is one password to try and the list it came from.
type candidate struct {
	source, password string
}

// candidates lists the passwords of lists in order, the one that last
// worked first, at most maxPasswordTries of them.
func candidates(lists []Passwords, last *candidate) []candidate {
	var out []candidate
	if last != nil {
		out = append(out, *last)
	}
	for _, l := range lists {
		for _, p := range l.List {
			if len(out) >= maxPasswordTries {
				return out
			}
			if last != nil && p == last.password && l.Source == last.source {
				continue
			}
			out = append(out, candidate{source: l.Source, password: p})
		}
	}
	return out
}
