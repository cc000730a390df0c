"""The usage text ``dgate -?`` prints to stderr (layout of Conquest's PrintOptions)."""
from ..version import DGATE_VERSION, __version__

HELP = f"""
DGATE: Conquest-compatible DICOM server and PACS utility (Python {__version__}), compatible with {DGATE_VERSION}

Usage:
(1) DGATE <-!#|-v|-u#>        Report as in dicom.ini|stdout|UDP(#=port)
          [-^|-l|-Lfile|-$]   GUI/Normal/Debug log to file, binary output
          [-p#|-hAE|-qIP|-b]  Set port|AE|Target IP|Single thread debug mode
          [-wDIR]             Set the working directory for dgate(ini,dic,...)
          [-i|-r|-arDEV[,dir]]Init|Init/regenerate DB|Regen dirs single device
          [-d|-m|-k]          List (-d) devices (-m) AE map (-k) DICOM.SQL
          [-t|-o]             Test console|Test database
          [-esap d u p]       Create database with SA password
          [-nd|-nu IN OUT]    NKI decompress FILE|Generic decompress NKI file
          [-jd|-j*##FILE]     JPEG decompress FILE|Recompress FILE to ##
          [-js|-jjFILE]       DICOM to json summary;complete with pixel data
          [-as#,N|-amFROM,TO] Select#KB to archive of MAGN|move device data
          [-au|-aeFROM,TO]    Undo select for archiving|rename device
          [-av|-atDEVICE]     Verify mirror disk|Test read files for DEVICE
          [-f<p|t|s|i>ID]     Delete DB for Patient, sTudy, Series, Image
          [-f<e|d|z>file]     Enter/Delete DB of file, Zap server file
          [-faFILE<,ID>]      Add file to server<optionally change PATID>
          [-zID]              Delete (zap) patient
          [-frDEVICE,DIR]     Regen single directory DIR on DEVICE
          [-f<c|k>PATID,file] Change/Kopy PATID of file (irreversible/once)
          [-f?file|-fu|-c#]   get UID of file|Make new UID|UID helper(0..99)
          [-ff#]              Delete old patients until #MB free
          [-gSERVER,DATE]     grab images from SERVER of date not on here
          [-yQUERY_STRING]    run as cgi client avoiding environment
                              Otherwise: run as threaded server

(3) DGATE <-pPORT> <-qIP> --command:arguments
                              Send command to (this or other) running server
                              (works directly - use with care)
    Examples: --display_status:  --get_param:MyACRNema  --movestudy:src,dst,patid:studyuid
              --regen:  --initializetables:  --deletepatient:patid  --quit:
    --dolua:chunk-or-file     Run Lua locally
    --addlocalfile:file,patid Upload a local file to the running server
    The list of server commands is in README.md, section "Server commands".
"""


def help_text() -> str:
    return HELP
