package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/ghaudit/auditlog"
)

// checkpointVersion is the format of the checkpoint file. Version 2: the
// cursor says when the backfill is done (the SDK's end-of-walk cursor), and
// the file records the output it belongs to. Version 3 adds Backfill, the
// position of a -parallel export; a version 2 file is read as an export of
// one walk.
const checkpointVersion = 3

// state is what the checkpoint file holds. An export of an organization's
// audit log records its login in Org, and an empty Enterprise. It is rewritten after every page
// (and every batch of tailed events), always after the events it counts are
// on disk, so that it never claims more than the output holds.
type state struct {
	Version    int    `json:"version"`
	Enterprise string `json:"enterprise"`
	Org        string `json:"org,omitempty"`
	// Out is the absolute path of the output this checkpoint counts.
	Out string `json:"out"`
	// The query of the backfill; a resumed run keeps it.
	Phrase  string `json:"phrase"`
	Include string `json:"include,omitempty"`
	Order   string `json:"order,omitempty"`
	PerPage int    `json:"per_page,omitempty"`
	// Cursor is the position after the last page written: empty at the
	// start, the end of the walk (Cursor.Done) once the backfill is done.
	// Resuming from it is the SDK's one recipe: Pages(ctx, ent, q.At(Cursor)).
	Cursor auditlog.Cursor `json:"cursor"`
	// Backfill is the position of a -parallel export (Backfill.Checkpoint,
	// taken after the events it covers were written): its range, and each
	// slice not yet read in full. Zero for an export of one walk.
	Backfill auditlog.BackfillCheckpoint `json:"backfill,omitzero"`
	// Events, Pages and Bytes count what the output holds: Bytes is its
	// size, to which a resumed run truncates it.
	Events int64 `json:"events"`
	Pages  int64 `json:"pages"`
	Bytes  int64 `json:"bytes"`
	// Tail is where a -follow tail goes on from: built with Checkpoint.Add
	// from the events the backfill wrote (Swept set to a look-back before
	// the export started), then the Follower's own checkpoint.
	Tail    auditlog.Checkpoint `json:"tail"`
	Started time.Time           `json:"started"`
	Updated time.Time           `json:"updated"`
}

// loadState reads a checkpoint file; ok is false when there is none.
func loadState(path string) (st state, ok bool, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return state{}, false, nil
	}
	if err != nil {
		return state{}, false, fmt.Errorf("-checkpoint: %w", err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return state{}, false, fmt.Errorf("-checkpoint %s: not a checkpoint file: %w", path, err)
	}
	if st.Version != checkpointVersion && st.Version != 2 {
		return state{}, false, fmt.Errorf("-checkpoint %s: version is %d, this export writes %d; finish that export with the version that began it, or start a new one", path, st.Version, checkpointVersion)
	}
	if st.Bytes < 0 || st.Events < 0 {
		return state{}, false, fmt.Errorf("-checkpoint %s: negative bytes or events", path)
	}
	st.Version = checkpointVersion
	return st, true, nil
}

// saveState replaces the checkpoint file atomically: write a temporary file
// beside it, fsync it, rename it over the old one, fsync the directory. A
// crash at any point leaves either the old or the new checkpoint, whole.
func saveState(path string, st *state) error {
	st.Updated = time.Now().UTC()
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	b = append(b, '\n')
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename there is nothing left to remove
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("checkpoint: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("checkpoint: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // best effort: not every file system syncs directories
		d.Close()
	}
	return nil
}
