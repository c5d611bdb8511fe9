"""_apply"""
