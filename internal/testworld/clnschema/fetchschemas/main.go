// Command fetchschemas installs Core Lightning's JSON schemas at the pinned
// tag into .data, for a clone of this repository without ../shared beside
// it. LNPLAYLIVE_CLN_REPO points at another copy of CLN's repository.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/lnplaylive/lnplaylive/internal/testworld/clnschema"
)

func main() {
	repo := os.Getenv("LNPLAYLIVE_CLN_REPO")
	if repo == "" {
		repo = clnschema.Upstream
	}
	dest := clnschema.FetchedDir()
	if err := clnschema.Fetch(repo, dest); err != nil {
		fmt.Fprintln(os.Stderr, "fetch CLN schemas:", err)
		os.Exit(1)
	}
	fmt.Println("CLN schemas", clnschema.Tag, "verified and installed in", filepath.Join(dest, "schemas"))
}
