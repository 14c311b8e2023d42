package channel

type Bad interface {
	Send(ch chan int) error
}
