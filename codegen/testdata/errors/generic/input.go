package generic

type Bad[T any] interface {
	Put(v T) error
}
