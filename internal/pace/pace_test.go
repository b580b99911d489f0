package pace

import (
	"context"
	"testing"
	"time"
)

func TestYieldOnlyWhenPaced(t *testing.T) {
	ctx := context.Background()
	if Active(ctx) {
		t.Fatal("a plain context is not paced")
	}
	Yield(ctx) // no pacer: returns at once, nothing to check but no panic

	paced := Background(ctx)
	if !Active(paced) {
		t.Fatal("Background's context is paced")
	}
	if Background(paced) != paced {
		t.Error("Background of a paced context keeps its pacer")
	}
	child, cancel := context.WithCancel(paced)
	defer cancel()
	if !Active(child) {
		t.Error("a context derived from a paced one is paced")
	}

	if un := Unpaced(child); Active(un) {
		t.Error("Unpaced left the pacer")
	} else if !Active(Background(un)) {
		t.Error("Background after Unpaced is paced again")
	}

	p := paced.Value(pacerKey{}).(*pacer)
	before := p.last.Load()
	Yield(paced) // within the first slice: no yield
	if p.last.Load() != before {
		t.Error("Yield within the slice yielded")
	}
	time.Sleep(Slice + time.Millisecond)
	Yield(paced)
	if p.last.Load() == before {
		t.Error("Yield after a slice did not yield")
	}
}
