package infra

import (
	"fmt"
	"time"
)

// PermanentError is a failure no retry can fix (a rejected token, a server
// type that does not exist). The order fails with Reason, which is written
// for the customer and the operator and carries no secret.
type PermanentError struct {
	Reason string
	Err    error
}

func (e *PermanentError) Error() string { return e.Reason }
func (e *PermanentError) Unwrap() error { return e.Err }

// RetryAfterError asks to be retried no sooner than Delay (a rate limit).
type RetryAfterError struct {
	Delay time.Duration
	Err   error
}

func (e *RetryAfterError) Error() string {
	return fmt.Sprintf("retry after %s: %v", e.Delay, e.Err)
}
func (e *RetryAfterError) Unwrap() error { return e.Err }
