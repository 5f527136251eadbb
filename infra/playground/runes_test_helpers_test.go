package playground

import "encoding/base64"

func encodeRune(raw string) string { return base64.URLEncoding.EncodeToString([]byte(raw)) }
