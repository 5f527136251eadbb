package codec

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
)

func TestCodecServerDecodesForTheWebUI(t *testing.T) {
	c, err := Parse([]byte(NewKeyLine("k1")))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(c.Handler("http://localhost:8233"))
	defer srv.Close()

	p, _ := converter.GetDefaultDataConverter().ToPayload("rune-secret")
	enc, _ := c.Encode([]*commonpb.Payload{p})
	body, _ := json.Marshal(map[string]any{"payloads": []any{payloadJSON(t, enc[0])}})
	req, _ := http.NewRequest("POST", srv.URL+"/decode", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", "http://localhost:8233")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out bytes.Buffer
	out.ReadFrom(resp.Body)
	if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != "http://localhost:8233" {
		t.Fatalf("status %d, CORS %q: %s", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"), out.String())
	}
	// "rune-secret" as JSON, base64 in the payload data: InJ1bmUtc2VjcmV0Ig==
	if !strings.Contains(out.String(), "InJ1bmUtc2VjcmV0Ig==") {
		t.Fatalf("decode answered %s", out.String())
	}
}

func payloadJSON(t *testing.T, p *commonpb.Payload) map[string]any {
	md := map[string]any{}
	for k, v := range p.Metadata {
		md[k] = v // []byte marshals as base64, as the UI sends it
	}
	return map[string]any{"metadata": md, "data": p.Data}
}
