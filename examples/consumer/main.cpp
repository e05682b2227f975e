// Prints d/dx sum(x^2) at x = [1, 2, 3]: [2, 4, 6].
#include <iostream>

#include "anneal.h"

int main() {
  anneal::Tensor x = anneal::tensor({1.0, 2.0, 3.0}).set_requires_grad();
  anneal::sum(x * x).backward();
  std::cout << x.grad() << "\n";
  return anneal::equal(x.grad(), anneal::tensor({2.0, 4.0, 6.0})) ? 0 : 1;
}
