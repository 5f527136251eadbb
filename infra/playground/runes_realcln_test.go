package playground

import (
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/lnplaylive/lnplaylive/internal/testworld/realcln"
	"github.com/lnplaylive/lnplaylive/internal/testworld/runetest"
)

// mintReal makes a rune with a profile's restrictions on a real node.
func mintReal(t *testing.T, n *realcln.Node, restrictions [][]string) (rune, uid string) {
	t.Helper()
	b, _ := json.Marshal(restrictions)
	out, err := n.Call("createrune", "restrictions="+string(b))
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		Rune     string `json:"rune"`
		UniqueID string `json:"unique_id"`
	}
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatal(err)
	}
	return r.Rune, r.UniqueID
}

func checkReal(n *realcln.Node, rune string, c runetest.Call) error {
	params := string(c.Params)
	if params == "" {
		params = "{}"
	}
	_, err := n.Call("checkrune", "rune="+rune, "method="+c.Method, "params="+params)
	return err
}

// The profiles, our rune decoder, the showrunes lookup the bootstrap
// reuses runes with, and the condition language the stand-ins judge runes
// by, all held to a real lightningd v25.12.1.
func TestRuneProfilesOnARealCoreLightning(t *testing.T) {
	n := realcln.Start(t)
	now := time.Now()
	var info struct {
		Version string `json:"version"`
	}
	if err := n.Get(&info, "getinfo"); err != nil {
		t.Fatal(err)
	}
	transcript := checkruneTranscript{RecordedFrom: "lightningd " + info.Version + ", checkrune", RecordedAt: now.UTC().Format(time.DateOnly),
		Profiles: map[string][][]string{}}
	defer func() {
		// Recorded only on request, from the real node: the stand-in's
		// verdicts are then held to it in every run without a build.
		if os.Getenv(recordTranscriptsEnv) == "" || t.Failed() {
			return
		}
		b, _ := json.MarshalIndent(transcript, "", " ")
		if err := os.WriteFile(checkruneTranscriptFile, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("recorded %d checkrune verdicts in %s", len(transcript.Verdicts), checkruneTranscriptFile)
	}()
	for _, p := range []RuneProfile{PlaygroundProfile, {Name: "seed-without-rate", Restrictions: SeedProfile.Restrictions[:2]}} {
		rune, uid := mintReal(t, n, p.Restrictions)
		if err := p.Check(rune, uid); err != nil {
			t.Fatalf("%s: our decoder refuses the real node's rune: %v", p.Name, err)
		}
		// The bootstrap's showrunes lookup finds exactly this rune.
		shown, err := n.Call("showrunes")
		if err != nil {
			t.Fatal(err)
		}
		want, _ := json.Marshal(p.Restrictions)
		cmd := exec.Command("jq", "-ce", "--argjson", "want", string(want), showrunesFilter)
		cmd.Stdin = strings.NewReader(string(shown))
		found, err := cmd.Output()
		if err != nil || !strings.Contains(string(found), rune) {
			t.Fatalf("%s: showrunes lookup found %q (%v)", p.Name, found, err)
		}
		r := profileRestrictions(t, p)
		calls := refusedCalls
		for _, m := range allClamsMethods() {
			calls = append(calls, clamsCall(m, now))
		}
		allowed := 0
		for _, c := range calls {
			c.Now = now
			real := checkReal(n, rune, c) == nil
			model := runetest.Check(uid, r, c, nil) == nil
			if real != model {
				t.Errorf("%s: %s %s: lightningd permits=%v, runetest permits=%v", p.Name, c.Method, c.Params, real, model)
			}
			if real {
				allowed++
			}
			transcript.Profiles[p.Name] = p.Restrictions
			transcript.Verdicts = append(transcript.Verdicts, checkruneVerdict{Profile: p.Name, Method: c.Method, Params: c.Params, Permitted: real})
		}
		t.Logf("%s: lightningd permits %d of %d calls (%d Clams methods, %d refused calls)", p.Name, allowed, len(calls), len(allClamsMethods()), len(refusedCalls))
	}

	// rate=60 on the real node: Clams's first sync, a dozen calls at once.
	rune, uid := mintReal(t, n, SeedProfile.Restrictions)
	r := profileRestrictions(t, SeedProfile)
	usage := runetest.Usage{}
	realOK, modelOK := 0, 0
	start := time.Now()
	for _, m := range ClamsMethods["sync"][:12] {
		if checkReal(n, rune, clamsCall(m, time.Now())) == nil {
			realOK++
		}
		if runetest.Check(uid, r, clamsCall(m, time.Now()), usage) == nil {
			modelOK++
		}
	}
	if elapsed := time.Since(start); elapsed < time.Second && realOK != modelOK {
		t.Errorf("rate=60, 12 calls in %s: lightningd answered %d, runetest %d", elapsed, realOK, modelOK)
	}
	t.Logf("seed rune (rate=60), Clams's 12 sync calls in %s: lightningd answered %d", time.Since(start).Round(time.Millisecond), realOK)
}
