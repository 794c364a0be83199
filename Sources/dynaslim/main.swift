print("dynaslim")
