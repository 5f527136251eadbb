package infra

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Check is one start-up check of the outside world a worker depends on:
// what was checked, what was found, and, when it failed, what to do.
type Check struct {
	Name   string
	Detail string // what was found
	Err    error  // nil: passed
	Fix    string // with Err: what the operator does about it
	// Warning: passed, but worth the operator's attention now.
	Warning bool
}

// Transient tells a failure the outside world may recover from by itself
// (the service did not answer) from one that needs the operator (a token,
// a name or a type it refuses): only the latter stops sales.
func (c Check) Transient() bool {
	var perm *PermanentError
	return c.Err != nil && !errors.As(c.Err, &perm)
}

// Line is the check as one line of a report.
func (c Check) Line() string {
	switch {
	case c.Err != nil:
		return fmt.Sprintf("FAIL %s: %v; fix: %s", c.Name, c.Err, c.Fix)
	case c.Warning:
		return fmt.Sprintf("WARN %s: %s", c.Name, c.Detail)
	}
	return fmt.Sprintf("ok   %s: %s", c.Name, c.Detail)
}

// Checker is a provider (or any outside service) that can check itself.
type Checker interface {
	Check(ctx context.Context) []Check
}

// Failed is the checks that failed for good, as one sentence a
// customer-facing refusal can carry (nothing secret is in a check); ""
// when none did.
func Failed(checks []Check) string {
	var failed []string
	for _, c := range checks {
		if c.Err != nil && !c.Transient() {
			failed = append(failed, fmt.Sprintf("%s: %v (fix: %s)", c.Name, c.Err, c.Fix))
		}
	}
	return strings.Join(failed, "; ")
}
