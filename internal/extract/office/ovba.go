package office

import (
	"encoding/binary"
	"errors"
	"math/bits"
)

// ErrOVBA is returned for data that is not a valid MS-OVBA compressed
// container.
var ErrOVBA = errors.New("office: bad MS-OVBA compressed container")

// ErrTooLarge is returned when decompressed data would exceed the caller's
// bound; the output decompressed so far is returned with it.
var ErrTooLarge = errors.New("office: decompressed data exceeds the limit")

// ovbaChunk is the decompressed size of a full chunk (MS-OVBA 2.4.1.1.4).
const ovbaChunk = 4096

// DecompressOVBA decompresses an MS-OVBA CompressedContainer (MS-OVBA
// 2.4.1): a signature byte 0x01, then chunks of at most 4096 decompressed
// bytes, each either raw or a sequence of flag bytes, literals and copy
// tokens that point back into the same chunk. At most max bytes are
// produced: beyond that the output so far is returned with ErrTooLarge. On
// damaged input the output decoded before the damage is returned with
// ErrOVBA, since the source before it is still worth a rule's look.
func DecompressOVBA(src []byte, max int) ([]byte, error) {
	if len(src) == 0 || src[0] != 0x01 {
		return nil, ErrOVBA
	}
	// Every chunk costs at least 3 input bytes, so the chunk count is
	// bounded by the input; the output bound is what matters.
	out := make([]byte, 0, min(max, 8*len(src)))
	for p := 1; p < len(src); {
		if len(src)-p < 2 {
			return out, ErrOVBA
		}
		hdr := binary.LittleEndian.Uint16(src[p:])
		if hdr>>12&0b111 != 0b011 {
			return out, ErrOVBA
		}
		size := int(hdr&0x0fff) + 3  // whole chunk, header included
		end := min(p+size, len(src)) // a truncated last chunk yields what it holds
		body := src[p+2 : end]
		p = end
		if hdr>>15 == 0 {
			// A raw chunk holds 4096 bytes as they are.
			if len(body) < ovbaChunk {
				return out, ErrOVBA
			}
			if len(out)+ovbaChunk > max {
				return append(out, body[:max-len(out)]...), ErrTooLarge
			}
			out = append(out, body[:ovbaChunk]...)
			continue
		}
		var err error
		if out, err = ovbaChunkTokens(out, body, max); err != nil {
			return out, err
		}
	}
	return out, nil
}

// ovbaChunkTokens decodes the token sequences of one compressed chunk,
// appending to out.
func ovbaChunkTokens(out, body []byte, max int) ([]byte, error) {
	start := len(out)
	for i := 0; i < len(body); {
		flags := body[i]
		i++
		for bit := 0; bit < 8 && i < len(body); bit++ {
			if len(out)-start >= ovbaChunk {
				return out, ErrOVBA
			}
			if flags&(1<<bit) == 0 {
				if len(out) >= max {
					return out, ErrTooLarge
				}
				out = append(out, body[i])
				i++
				continue
			}
			if len(body)-i < 2 {
				return out, ErrOVBA
			}
			tok := binary.LittleEndian.Uint16(body[i:])
			i += 2
			length, offset := copyToken(tok, len(out)-start)
			if offset > len(out)-start {
				return out, ErrOVBA
			}
			if len(out)-start+length > ovbaChunk {
				return out, ErrOVBA
			}
			// Byte by byte: a copy may overlap what it writes.
			from := len(out) - offset
			for k := range length {
				if len(out) >= max {
					return out, ErrTooLarge
				}
				out = append(out, out[from+k])
			}
		}
	}
	return out, nil
}

// copyToken unpacks a CopyToken (MS-OVBA 2.4.1.3.19.1): the split between
// offset and length bits depends on how far into the chunk the decoder is,
// d bytes (at least 1, since a chunk cannot start with a copy).
func copyToken(tok uint16, d int) (length, offset int) {
	bitCount := 4
	if d > 1 {
		bitCount = max(bits.Len(uint(d-1)), 4)
	}
	lengthMask := uint16(0xffff) >> bitCount
	length = int(tok&lengthMask) + 3
	offset = int(tok>>(16-bitCount)) + 1
	return length, offset
}
