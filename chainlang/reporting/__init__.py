"""What a person looks at: pictures of inputs and predictions, the HTML report, ``trace``."""
