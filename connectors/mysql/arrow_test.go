package mysql

import (
	"testing"
	"time"
)

func TestDaysFromCivil(t *testing.T) {
	for d := time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC); d.Year() < 10000; d = d.AddDate(0, 0, 13) {
		if got, want := daysFromCivil(d.Year(), int(d.Month()), d.Day()), d.Unix()/86400; got != want {
			t.Fatalf("%s: %d, want %d", d.Format(time.DateOnly), got, want)
		}
	}
}

func TestPool_ReusesZeroedBuffers(t *testing.T) {
	p := newPool()
	a := p.Allocate(100)
	if len(a) != 100 || cap(a) != 128 {
		t.Fatalf("Allocate(100): len %d cap %d", len(a), cap(a))
	}
	for i := range a {
		a[i] = 0xff
	}
	p.Free(a)
	b := p.Allocate(70)
	if &b[:1][0] != &a[:1][0] {
		t.Fatal("a freed buffer of the same class was not reused")
	}
	for i, c := range b[:cap(b)] {
		if c != 0 {
			t.Fatalf("reused buffer not zeroed at %d", i)
		}
	}
	c := p.Reallocate(1000, b)
	if len(c) != 1000 || cap(c) != 1024 {
		t.Fatalf("Reallocate(1000): len %d cap %d", len(c), cap(c))
	}
	p.Free(make([]byte, 100)) // not one of ours: dropped
	if p.held != 128 {
		t.Fatalf("held %d bytes, want the 128 of b", p.held)
	}
}
