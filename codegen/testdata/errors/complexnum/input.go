package complexnum

type Bad interface {
	Put(c complex128) error
}
