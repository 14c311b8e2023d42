package gentest

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"time"
)

// Codecs carries the types whose generated JSON codecs the tests compare with
// encoding/json.
type Codecs interface {
	Rich(ctx context.Context, r Rich, rs []Rich, m map[string]*Rich) (Rich, error)
	Edges(ctx context.Context, f Folded, q StringOpt, h Holder) error
}

// Rich has a field of every kind the generated codecs handle, and a few they leave
// to go-json.
type Rich struct {
	Name    string  `json:"name"`
	Alias   string  // no tag: named after the field
	Count   int     `json:"count,omitempty"`
	Small   int8    `json:"small"`
	Big     uint64  `json:"big,string"`
	Ratio   float64 `json:"ratio"`
	Ratio32 float32 `json:"ratio32,omitempty"`
	OK      bool    `json:"ok,string"`
	Quoted  string  `json:"quoted,string"`
	QPtr    *int32  `json:"qptr,string,omitempty"`
	Skip    string  `json:"-"`
	//lint:ignore SA5008 "-," names the field "-", as encoding/json documents
	Dash   string             `json:"-,"`
	Blob   []byte             `json:"blob"`
	Tags   []string           `json:"tags"`
	Grid   [2][2]int16        `json:"grid"`
	Scores map[string]float64 `json:"scores"`
	ByID   map[int32]string   `json:"by_id,omitempty"`
	ByU    map[uint16]bool    `json:"by_u"`
	Next   *Rich              `json:"next,omitempty"`
	Items  []*Item            `json:"items"`
	Level  Level              `json:"level"`
	When   time.Time          `json:"when"`
	Extra  any                `json:"extra"`
	Opaque Opaque             `json:"opaque"`
	Named  Names              `json:"named"`
	Shadow string             `json:"base_id"`
	Octets []Octet            `json:"octets"`
	Num    json.Number        `json:"num"`
	NumQ   json.Number        `json:"numq,string,omitempty"`
	Size   string             `json:"größe,omitempty"` // folds as encoding/json folds
	Omega  int                `json:"Ωmega,omitempty"`
	Cells  [2]Item            `json:"cells"`
	PP     **int32            `json:"pp,omitempty"`
	Kids   []Rich             `json:"kids,omitempty"` // a recursive slice
	Inner
	*Base
}

// Item is an element of Rich.Items.
type Item struct {
	ID    int64  `json:"id"`
	Label string `json:"label,omitempty"`
	Code  string `json:"code,string,omitempty"`
}

// Level is a named unsigned integer.
type Level uint8

// Octet is a named byte: encoding/json writes a slice of them as base64, as it writes
// []byte.
type Octet byte

// UserName is a named string; Names a named slice of them.
type (
	UserName string
	Names    []UserName
)

// Opaque has an unexported field, so it goes through go-json.
type Opaque struct {
	Visible string
	hidden  int
}

// Hidden returns the unexported field.
func (o Opaque) Hidden() int { return o.hidden }

// Inner is embedded by value: its fields are promoted, Count is hidden by Rich's.
type Inner struct {
	InnerA string `json:"inner_a"`
	Count  int
	Both   string
}

// Base is embedded by pointer: its Both conflicts with Inner's at the same depth, so
// neither is written, and BaseID is hidden by Rich.Shadow's tag.
type Base struct {
	BaseID int `json:"base_id"`
	Both   string
	Deep   uint16 `json:"deep,omitempty"`
}

// Folded has member names beyond ASCII, which encoding/json matches without regard to
// case by its own folding.
type Folded struct {
	ID    int    `json:"id"`
	Ring  string `json:"Å"`
	Omega string `json:"Ω"`
}

// StringOpt has the string option on fields whose types encoding/json reads by rules
// of their own.
type StringOpt struct {
	Num  json.Number  `json:"num,string"`
	PNum *json.Number `json:"pnum,string,omitempty"`
	C    LenJSON      `json:"c,string"`
	PC   *LenJSON     `json:"pc,string,omitempty"`
	T    Upper        `json:"t,string"`
	In   InOnly       `json:"in,string"`
	Text TextIn       `json:"text,string"`
}

// LenJSON keeps the length of the JSON it is given.
type LenJSON int

// MarshalJSON writes a fixed string.
func (c LenJSON) MarshalJSON() ([]byte, error) { return []byte(`"c"`), nil }

// UnmarshalJSON keeps the length of b.
func (c *LenJSON) UnmarshalJSON(b []byte) error { *c = LenJSON(len(b)); return nil }

// Upper is text that is read upper-cased.
type Upper string

// MarshalText writes the text as it is.
func (u Upper) MarshalText() ([]byte, error) { return []byte(u), nil }

// UnmarshalText keeps the text upper-cased.
func (u *Upper) UnmarshalText(b []byte) error { *u = Upper(strings.ToUpper(string(b))); return nil }

// InOnly reads itself but is written as the integer it is.
type InOnly int

// UnmarshalJSON keeps the length of b.
func (n *InOnly) UnmarshalJSON(b []byte) error { *n = InOnly(len(b)); return nil }

// TextIn reads itself from text but is written as the string it is.
type TextIn string

// UnmarshalText keeps the text reversed.
func (t *TextIn) UnmarshalText(b []byte) error {
	r := []rune(string(b))
	slices.Reverse(r)
	*t = TextIn(r)
	return nil
}

// Opaque32 goes through go-json: it has an unexported field.
type Opaque32 struct {
	F      float32
	hidden int
}

// Hidden returns the unexported field.
func (o Opaque32) Hidden() int { return o.hidden }

// Holder has a generated codec that hands Opaque32 to go-json.
type Holder struct {
	O Opaque32
}
