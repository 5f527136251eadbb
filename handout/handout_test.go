package handout

import (
	"bytes"
	"encoding/base64"
	"fmt"
	stdhtml "html"
	"image"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode"

	"github.com/lnplaylive/lnplaylive/infra/playground"
	"github.com/lnplaylive/lnplaylive/order"
)

// testOrder is a provisioned order of n nodes with links as the bootstrap
// makes them (runes of a realistic length).
func testOrder(n int) Order {
	o := Order{ID: "8d33e17d-0385-46c0-82f2-16c989f7b112", Expires: time.Date(2026, 12, 3, 18, 30, 0, 0, time.UTC)}
	for i := 1; i <= n; i++ {
		id := fmt.Sprintf("02%064x", i*7919)
		rune := base64.URLEncoding.EncodeToString(bytes.Repeat([]byte{byte(i)}, 32+300))
		o.Nodes = append(o.Nodes, order.Node{Index: i, Alias: playground.Alias(i), ID: id, Host: "203.0.113.7",
			WSPort: 6000 + i, P2PPort: 9735 + i, Rune: rune,
			ClamsURL: playground.ClamsURL(playground.DefaultClamsApp, playground.DefaultClamsProxy, id, "203.0.113.7", 9735+i, rune, playground.Alias(i))})
	}
	return o
}

// decodeQR reads a QR code: pure (a generated image, nothing around it)
// or found by the detector (a redrawn terminal code).
func decodeQR(t *testing.T, img image.Image, pure bool) string {
	t.Helper()
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		t.Fatal(err)
	}
	var hints map[gozxing.DecodeHintType]any
	if pure {
		hints = map[gozxing.DecodeHintType]any{gozxing.DecodeHintType_PURE_BARCODE: true}
	}
	res, err := qrcode.NewQRCodeReader().Decode(bmp, hints)
	if err != nil {
		t.Fatalf("QR code does not decode: %v", err)
	}
	return res.GetText()
}

var dataURI = regexp.MustCompile(`src="data:image/png;base64,([^"]+)"`)

func TestSheetCodesDecodeToTheNodesLinks(t *testing.T) {
	o := testOrder(64)
	var b bytes.Buffer
	if err := Sheet(&b, o); err != nil {
		t.Fatal(err)
	}
	html := b.String()
	imgs := dataURI.FindAllStringSubmatch(html, -1)
	if len(imgs) != 64 {
		t.Fatalf("%d codes for 64 nodes", len(imgs))
	}
	for i, m := range imgs {
		raw, err := base64.StdEncoding.DecodeString(stdhtml.UnescapeString(m[1]))
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(bytes.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		if got := decodeQR(t, img, true); got != o.Nodes[i].ClamsURL {
			t.Fatalf("code %d decodes to %q, want node %d's link", i+1, got, i+1)
		}
	}
	if got := strings.Count(html, `<section class="page">`); got != 8 {
		t.Fatalf("%d pages for 64 nodes", got)
	}
	for _, n := range o.Nodes {
		if !strings.Contains(html, ">"+n.Alias+"<") || !strings.Contains(html, Short(n)) {
			t.Fatalf("node %d's alias or short form is missing", n.Index)
		}
	}
	if !strings.Contains(html, `datetime="2026-12-03T18:30:00Z"`) || !strings.Contains(stdhtml.UnescapeString(html), Instructions) {
		t.Fatal("no expiry or no instructions")
	}
}

// termImage redraws a half-block QR code as an image: each character is
// two modules stacked, "█" light over light, " " dark over dark.
func termImage(lines []string) image.Image {
	const scale = 6
	w := 0
	for _, l := range lines {
		w = max(w, len([]rune(l)))
	}
	img := image.NewGray(image.Rect(0, 0, (w+8)*scale, (2*len(lines)+8)*scale))
	for i := range img.Pix {
		img.Pix[i] = 255
	}
	for y, l := range lines {
		for x, r := range []rune(l) {
			top, bottom := r == '█' || r == '▀', r == '█' || r == '▄'
			for k, light := range []bool{top, bottom} {
				if light {
					continue
				}
				for dy := 0; dy < scale; dy++ {
					for dx := 0; dx < scale; dx++ {
						img.Set((x+4)*scale+dx, (2*y+k+4)*scale+dy, color.Gray{0})
					}
				}
			}
		}
	}
	return img
}

func TestTerminalCodesDecodeToTheNodesLinks(t *testing.T) {
	o := testOrder(3)
	var b bytes.Buffer
	if err := Terminal(&b, o); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, n := range o.Nodes {
		if !strings.Contains(out, n.ID) || !strings.Contains(out, fmt.Sprint(n.P2PPort)) {
			t.Fatalf("node %d missing from the table", n.Index)
		}
	}
	// Each code is the block of half-block lines under "<alias> (node i)".
	blocks := strings.Split(out, "\n\n")[1:]
	decoded := 0
	for _, blk := range blocks {
		lines := strings.Split(blk, "\n")
		var qr []string
		for _, l := range lines[1:] {
			if strings.ContainsAny(l, "█▀▄") || (strings.TrimSpace(l) == "" && len(qr) > 0 && l != "") {
				qr = append(qr, l)
			}
		}
		if len(qr) == 0 {
			continue
		}
		want := o.Nodes[decoded].ClamsURL
		if got := decodeQR(t, termImage(qr), false); got != want {
			t.Fatalf("terminal code %d decodes to %q", decoded+1, got)
		}
		decoded++
	}
	if decoded != 3 {
		t.Fatalf("%d terminal codes decoded for 3 nodes", decoded)
	}
}

// The sheet as a person sees it: headless Chromium prints it to PDF (8
// A4 pages for 64 nodes) and takes a screenshot of the first page.
func TestSheetPrintsEightNodesPerA4Page(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("chromium is missing: run `make deps` (apt-get install chromium)")
	}
	dir := t.TempDir()
	for _, n := range []int{8, 64} {
		var b bytes.Buffer
		if err := Sheet(&b, testOrder(n)); err != nil {
			t.Fatal(err)
		}
		html := filepath.Join(dir, fmt.Sprintf("sheet-%d.html", n))
		if err := os.WriteFile(html, b.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		pdf := filepath.Join(dir, fmt.Sprintf("sheet-%d.pdf", n))
		cmd := exec.Command(chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-pdf-header-footer",
			"--print-to-pdf="+pdf, "file://"+html)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("chromium: %v\n%s", err, out)
		}
		info, err := exec.Command("pdfinfo", pdf).Output()
		if err != nil {
			t.Fatalf("pdfinfo: %v", err)
		}
		pages := regexp.MustCompile(`(?m)^Pages:\s+(\d+)`).FindStringSubmatch(string(info))
		size := regexp.MustCompile(`(?m)^Page size:\s+([\d.]+) x ([\d.]+) pts`).FindStringSubmatch(string(info))
		if pages == nil || pages[1] != fmt.Sprint(n/PerPage) {
			t.Fatalf("%d nodes print on %v pages, want %d", n, pages, n/PerPage)
		}
		if size == nil || !strings.HasPrefix(size[1], "59") || !strings.HasPrefix(size[2], "84") {
			t.Fatalf("page size %v is not A4", size)
		}
		if n == 8 {
			// The expiry is shown in the reader's time zone: 18:30 UTC is
			// 03:30 the next day in Tokyo.
			dom := exec.Command(chromium, "--headless", "--no-sandbox", "--disable-gpu", "--lang=en-US", "--dump-dom", "file://"+html)
			dom.Env = append(os.Environ(), "TZ=Asia/Tokyo")
			out, err := dom.Output()
			if err != nil {
				t.Fatalf("chromium --dump-dom: %v", err)
			}
			shown := regexp.MustCompile(`<time datetime="[^"]+">([^<]+)</time>`).FindStringSubmatch(string(out))
			if shown == nil || !strings.Contains(shown[1], "Dec 4, 2026") || !strings.Contains(shown[1], "03:30") {
				t.Fatalf("expiry shown as %v in Tokyo", shown)
			}
			shot := filepath.Join(dir, "sheet.png")
			cmd := exec.Command(chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
				"--window-size=794,1123", "--screenshot="+shot, "file://"+html)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("chromium screenshot: %v\n%s", err, out)
			}
			f, err := os.Open(shot)
			if err != nil {
				t.Fatal(err)
			}
			img, err := png.Decode(f)
			f.Close()
			if err != nil {
				t.Fatal(err)
			}
			if b := img.Bounds(); b.Dx() != 794 || b.Dy() != 1123 {
				t.Fatalf("screenshot %v", b)
			}
			if out := os.Getenv("LNPLAYLIVE_SHEET_SCREENSHOT"); out != "" {
				raw, _ := os.ReadFile(shot)
				if err := os.WriteFile(out, raw, 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}
