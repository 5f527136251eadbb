package cln

import (
	"context"
	"fmt"
)

// Datastore modes (schemas/datastore.json).
const (
	ModeMustCreate      = "must-create"
	ModeCreateOrReplace = "create-or-replace"
	ModeMustReplace     = "must-replace"
)

// DatastoreEntry is one entry of listdatastore.
type DatastoreEntry struct {
	Key        []string `json:"key"`
	Generation uint64   `json:"generation,omitempty"`
	Hex        string   `json:"hex,omitempty"`
	String     *string  `json:"string,omitempty"`
}

// PutString stores value under key with the given mode.
func (c *Client) PutString(ctx context.Context, key []string, value, mode string) error {
	return c.Call(ctx, "datastore", map[string]any{"key": key, "string": value, "mode": mode}, nil)
}

// GetString reads the string stored under key; found is false when there is
// no such entry.
func (c *Client) GetString(ctx context.Context, key []string) (value string, found bool, err error) {
	var res struct {
		Datastore []DatastoreEntry `json:"datastore"`
	}
	if err := c.Call(ctx, "listdatastore", map[string]any{"key": key}, &res); err != nil {
		return "", false, err
	}
	for _, e := range res.Datastore {
		if equalKeys(e.Key, key) {
			if e.String == nil {
				return "", false, fmt.Errorf("datastore %v holds no string", key)
			}
			return *e.String, true, nil
		}
	}
	return "", false, nil
}

func equalKeys(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
