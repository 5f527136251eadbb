package playground

import "fmt"

// aliases are the nodes' friendly names (SPEC §5), unique within an order:
// the cast of cryptography's examples first, then more names, 64 in all.
var aliases = [...]string{
	"Alice", "Bob", "Carol", "Dave", "Erin", "Frank", "Grace", "Heidi",
	"Ivan", "Judy", "Mallory", "Niaj", "Olivia", "Peggy", "Rupert", "Sybil",
	"Trent", "Uma", "Victor", "Walter", "Xena", "Yara", "Zoe", "Amir",
	"Bea", "Chen", "Dana", "Eli", "Fay", "Gus", "Hana", "Ines",
	"Jon", "Kai", "Lena", "Milo", "Nora", "Omar", "Pia", "Quinn",
	"Rosa", "Sam", "Tara", "Ugo", "Vera", "Wes", "Ximena", "Yusuf",
	"Zara", "Arlo", "Bruno", "Cleo", "Dara", "Enzo", "Flora", "Gil",
	"Hugo", "Iris", "Jade", "Kofi", "Luz", "Mina", "Nico", "Otto",
}

// MaxNodes is the most nodes a playground can have names for.
const MaxNodes = len(aliases)

// Alias is node i's (1-based) friendly name.
func Alias(i int) string {
	if i < 1 || i > len(aliases) {
		return fmt.Sprintf("node-%d", i)
	}
	return aliases[i-1]
}
