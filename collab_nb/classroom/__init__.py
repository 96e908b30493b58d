"The classroom: exercise checkers (`checks`), student/solution versions (`handout`), the batch grader (`grader`) and the course site (`site`). Hand-kept."
