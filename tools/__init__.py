"""Development tooling: what makes and checks the committed notebooks; no notebook imports it."""
