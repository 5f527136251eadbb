package jsonframe

import (
	"errors"
	"io"
	"strings"
	"testing"
)

func TestReaderSplitsBackToBackAndPrettyObjects(t *testing.T) {
	in := `{"a":1}` + "\n\n" + `{"b":"}{\"\n\n"}{"c":[{"d":{}}]}` + "\n\n" + "{\n  \"e\": 1\n}\n\n"
	r := NewReader(strings.NewReader(in), 1024)
	want := []string{`{"a":1}`, `{"b":"}{\"\n\n"}`, `{"c":[{"d":{}}]}`, "{\n  \"e\": 1\n}"}
	for _, w := range want {
		got, err := r.Next()
		if err != nil || string(got) != w {
			t.Fatalf("got %q, %v; want %q", got, err, w)
		}
	}
	if _, err := r.Next(); err != io.EOF {
		t.Fatalf("want EOF, got %v", err)
	}
}

func TestReaderSkipsGarbageAndOversizedObjects(t *testing.T) {
	in := "garbage line\n" + `{"big":"` + strings.Repeat("x", 100) + `"}` + `{"ok":true}` + `{"cut":`
	r := NewReader(strings.NewReader(in), 50)
	if _, err := r.Next(); !errors.Is(err, ErrNotObject) {
		t.Fatalf("want ErrNotObject, got %v", err)
	}
	if _, err := r.Next(); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("want ErrTooLarge, got %v", err)
	}
	if got, err := r.Next(); err != nil || string(got) != `{"ok":true}` {
		t.Fatalf("got %q, %v", got, err)
	}
	if _, err := r.Next(); err != io.ErrUnexpectedEOF {
		t.Fatalf("want ErrUnexpectedEOF, got %v", err)
	}
}
