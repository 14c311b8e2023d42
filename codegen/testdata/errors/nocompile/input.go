package nocompile

type Bad interface {
	Get() (Undefined, error)
}
