package nestedchan

type Msg struct {
	Name string
	Ch   chan int
}

type Bad interface {
	Put(m []Msg) error
}
