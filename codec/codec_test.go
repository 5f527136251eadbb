package codec

import (
	"errors"
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
)

func TestRoundTripRotationAndNoPlaintext(t *testing.T) {
	line1 := NewKeyLine("k1")
	old, err := Parse([]byte(line1))
	if err != nil {
		t.Fatal(err)
	}
	secret := "rune=gJIrc38yC277E_bwolwBcXhI6YEX7LVv0YjxIkkswME9NSZ"
	p, err := converter.GetDefaultDataConverter().ToPayload(map[string]string{"conn": secret})
	if err != nil {
		t.Fatal(err)
	}
	enc, err := old.Encode(p2s(p))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(enc[0].String(), "gJIrc38y") || strings.Contains(string(enc[0].Data), "gJIrc38y") {
		t.Fatal("the secret is visible in the encoded payload")
	}
	// Rotation: a new key first, the old one kept for decryption.
	rotated, err := Parse([]byte(NewKeyLine("k2") + "\n" + line1))
	if err != nil {
		t.Fatal(err)
	}
	dec, err := rotated.Decode(enc)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]string
	if err := converter.GetDefaultDataConverter().FromPayload(dec[0], &got); err != nil || got["conn"] != secret {
		t.Fatalf("%v %v", got, err)
	}
	again, _ := rotated.Encode(p2s(p))
	if string(again[0].Metadata[MetadataKeyID]) != "k2" {
		t.Fatal("rotation did not switch the active key")
	}
	if _, err := old.Decode(again); err == nil {
		t.Fatal("decoded without the key")
	}
	enc[0].Data[len(enc[0].Data)-1] ^= 1
	if _, err := rotated.Decode(enc); err == nil {
		t.Fatal("a tampered payload decoded")
	}
}

func TestBadKeyFilesAreRefusedWithoutEchoingKeys(t *testing.T) {
	for _, f := range []string{"", "k1", "k1:c2hvcnQ=", "bad id:" + strings.Repeat("A", 44), NewKeyLine("a") + "\n" + NewKeyLine("a")} {
		_, err := Parse([]byte(f))
		if err == nil {
			t.Errorf("accepted %q", f)
		} else if strings.Contains(err.Error(), "c2hvcnQ") {
			t.Errorf("error echoes key material: %v", err)
		}
	}
}

func TestCheckReadableNamesTheMissingKey(t *testing.T) {
	mine, err := Parse([]byte(NewKeyLine("k1") + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	other, err := Parse([]byte(NewKeyLine("k2") + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := converter.GetDefaultDataConverter().ToPayload("hosts")
	enc, err := mine.Encode([]*commonpb.Payload{plain})
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckReadable(plain, nil); err != nil {
		t.Fatalf("plain payload: %v", err)
	}
	if err := CheckReadable(enc[0], mine); err != nil {
		t.Fatalf("own key: %v", err)
	}
	for _, c := range []*Codec{nil, other} {
		err := CheckReadable(enc[0], c)
		if !errors.Is(err, ErrCannotRead) || !strings.Contains(err.Error(), `"k1"`) {
			t.Fatalf("got %v", err)
		}
	}
}
