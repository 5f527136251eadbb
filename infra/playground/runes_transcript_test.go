package playground

import (
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/lnplaylive/lnplaylive/internal/testworld/runetest"
)

// recordTranscriptsEnv, set with LNPLAYLIVE_REAL_CLN, makes the real-build
// tests write what the real node answered under testdata/.
const recordTranscriptsEnv = "LNPLAYLIVE_RECORD_TRANSCRIPTS"

const checkruneTranscriptFile = "testdata/checkrune-transcript.json"

// checkruneTranscript is what a real lightningd's checkrune answered for
// each profile's rune and call: recorded by TestRuneProfilesOnARealCoreLightning.
type checkruneTranscript struct {
	RecordedFrom string `json:"recorded_from"`
	RecordedAt   string `json:"recorded_at"`
	// Profiles are the runes' restrictions, by profile name.
	Profiles map[string][][]string `json:"profiles"`
	Verdicts []checkruneVerdict    `json:"verdicts"`
}

type checkruneVerdict struct {
	Profile   string          `json:"profile"`
	Method    string          `json:"method"`
	Params    json.RawMessage `json:"params,omitempty"`
	Permitted bool            `json:"permitted"`
}

// The rune condition language the stand-ins judge runes by gives, for
// every recorded call, the verdict the real lightningd gave: the real
// build's comparison, replayed where no build is at hand.
func TestRuneVerdictsMatchTheRecordedRealNode(t *testing.T) {
	b, err := os.ReadFile(checkruneTranscriptFile)
	if err != nil {
		t.Fatal(err)
	}
	var tr checkruneTranscript
	if err := json.Unmarshal(b, &tr); err != nil {
		t.Fatal(err)
	}
	if len(tr.Verdicts) == 0 {
		t.Fatal("the transcript holds no verdicts")
	}
	permitted := 0
	for _, v := range tr.Verdicts {
		r, err := runetest.FromJSON(tr.Profiles[v.Profile])
		if err != nil {
			t.Fatal(err)
		}
		model := runetest.Check("0", r, runetest.Call{Method: v.Method, Params: v.Params, Now: time.Now()}, nil) == nil
		if model != v.Permitted {
			t.Errorf("%s: %s %s: %s permitted=%v, runetest permits=%v", v.Profile, v.Method, v.Params, tr.RecordedFrom, v.Permitted, model)
		}
		if v.Permitted {
			permitted++
		}
	}
	t.Logf("%d verdicts of %s (%s), %d permitted: runetest agrees", len(tr.Verdicts), tr.RecordedFrom, tr.RecordedAt, permitted)
}
