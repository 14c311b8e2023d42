package function

type Bad interface {
	Get() (func(), error)
}
