"""The Saleor gateway plugin: the only part of the package that imports Saleor/Django.

Kept import-free so ``saleor_amazonpay.plugin`` can be named without loading Saleor.
"""
