package redisbudget

func runChild() bool { return false }
