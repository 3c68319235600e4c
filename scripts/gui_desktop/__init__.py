"""The GUI steps that scripts/gui_check.py runs inside the QGIS desktop (one module a phase).

QGIS runs scripts/gui_check.py as its startup code; that file puts this folder's parent on
sys.path and calls `qgis_side.run` with the phase's configuration.
"""
