"""The design matrix ``X`` as the objective sees it (the data layer under objective.py).

- ``matrix.py``: dense and sparse designs, their products with parameter matrices;
- ``bfloat16.py``: the rounded copy of dense float32 ``X`` for approximate products;
- ``sparse_products.py``: CSR products split over threads by blocks of rows;
- ``work_split.py``: runs of equal work, and running them on threads.
"""
