package jsonframe

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
)

func FuzzReader(f *testing.F) {
	f.Add([]byte(`{"jsonrpc":"2.0","id":"cln:init#1","method":"init","params":{}}` + "\n\n" + `{"a":"}\""}`))
	f.Add([]byte("garbage\n{\"x\":[1,{\"y\":2}]}"))
	f.Add([]byte(`{"unterminated":`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewReader(bytes.NewReader(data), 256)
		for i := 0; i < len(data)+1; i++ {
			msg, err := r.Next()
			if err != nil {
				if errors.Is(err, ErrTooLarge) || errors.Is(err, ErrNotObject) {
					continue
				}
				return // end of input
			}
			if len(msg) > 256 || msg[0] != '{' || msg[len(msg)-1] != '}' {
				t.Fatalf("frame %q", msg)
			}
			// A frame that is valid JSON is exactly one object.
			var v any
			if json.Unmarshal(msg, &v) == nil {
				if _, ok := v.(map[string]any); !ok {
					t.Fatalf("frame %q is not an object", msg)
				}
			}
		}
		t.Fatal("reader did not reach the end of its input")
	})
}
