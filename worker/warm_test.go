package worker

import (
	"maps"
	"strings"
	"testing"
)

func TestWarmTargetsParseOrSayWhatIsWrong(t *testing.T) {
	got, err := ParseWarmTargets("8:2, 16:1,64:0")
	if err != nil || !maps.Equal(got, map[int]int{8: 2, 16: 1, 64: 0}) {
		t.Fatalf("got %v, %v", got, err)
	}
	for in, want := range map[string]string{
		"8":         "want <node count>:<how many>",
		"9:1":       "9 nodes is not a size sold",
		"8:-1":      "cannot be negative",
		"8:1,8:2":   "size 8 given twice",
		"8:two":     "want <node count>:<how many>",
		"8:1,,16:1": "want <node count>:<how many>",
	} {
		if _, err := ParseWarmTargets(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", in, err, want)
		}
	}
}
