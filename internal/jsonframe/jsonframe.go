// Package jsonframe splits a byte stream into top-level JSON objects, the
// way lightningd and its plugins frame JSON-RPC: objects back to back,
// usually followed by "\n\n", with no length prefix.
//
// It tracks brace depth and string state instead of splitting on "\n\n", so
// a pretty-printed object is read whole, and it bounds the size of one
// object so a hostile or broken peer cannot grow memory without limit.
package jsonframe

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

// ErrTooLarge is returned for an object larger than the reader's limit. The
// object has been consumed; the next call reads the one after it.
var ErrTooLarge = errors.New("jsonframe: object too large")

// ErrNotObject is returned when the stream holds something other than an
// object at top level. The rest of that line has been skipped.
var ErrNotObject = errors.New("jsonframe: not a JSON object")

// Reader reads one top-level object at a time.
type Reader struct {
	r   *bufio.Reader
	max int
	buf []byte
}

// NewReader reads objects of at most max bytes from r.
func NewReader(r io.Reader, max int) *Reader {
	return &Reader{r: bufio.NewReaderSize(r, 64<<10), max: max}
}

// Next returns the next object's bytes, valid until the following call.
// Errors other than ErrTooLarge and ErrNotObject come from the underlying
// reader (io.EOF at a clean end of stream, io.ErrUnexpectedEOF inside an object).
func (r *Reader) Next() ([]byte, error) {
	var c byte
	var err error
	for {
		if c, err = r.r.ReadByte(); err != nil {
			return nil, err
		}
		if c != ' ' && c != '\n' && c != '\r' && c != '\t' {
			break
		}
	}
	if c != '{' {
		if _, err := r.r.ReadSlice('\n'); err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return nil, fmt.Errorf("%w (then %v)", ErrNotObject, err)
		}
		return nil, fmt.Errorf("%w: starts with %q", ErrNotObject, c)
	}
	r.buf = append(r.buf[:0], c)
	depth, inString, escaped, tooLarge := 1, false, false, false
	for depth > 0 {
		if c, err = r.r.ReadByte(); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		if !tooLarge {
			if len(r.buf) >= r.max {
				tooLarge = true
				r.buf = r.buf[:0]
			} else {
				r.buf = append(r.buf, c)
			}
		}
		switch {
		case escaped:
			escaped = false
		case inString:
			switch c {
			case '\\':
				escaped = true
			case '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			depth++
		case c == '}' || c == ']':
			depth--
		}
	}
	if tooLarge {
		return nil, ErrTooLarge
	}
	if c != '}' {
		// "{…]" balances the count but is no object: report, do not frame it.
		return nil, fmt.Errorf("%w: closed by %q", ErrNotObject, c)
	}
	return r.buf, nil
}
