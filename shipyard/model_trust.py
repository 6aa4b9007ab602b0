"""What a model file may hold, shared by the server and the SDK: the one allow-list of exact types
and pure functions, and the checks of a skops archive and of extra files. Standard library only."""

import bz2
import gzip
import importlib
import io
import json
import lzma
import pickletools
import re
import stat
import tarfile
import unicodedata
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from functools import lru_cache
from pathlib import Path
from typing import IO, Any, cast

# Above this many bytes, an archive entry may inflate at most MAX_COMPRESSION_RATIO times its stored size.
MAX_COMPRESSION_RATIO = 100.0
COMPRESSION_RATIO_MIN_BYTES = 4 * 1024 * 1024
# Archives inside archives are opened this deep to look for pickles; deeper nesting is refused.
MAX_NESTING = 3
_SNIFF_BYTES = 64 * 1024

# scikit-learn's public estimators, by the module that exports them. Left out on purpose: the text
# vectorizers (CountVectorizer, TfidfVectorizer, HashingVectorizer), which open and read the files
# named in their input when `input="filename"`, so a model could read the server's files.
_SKLEARN_ESTIMATORS: dict[str, tuple[str, ...]] = {
    "sklearn.calibration": ("CalibratedClassifierCV",),
    "sklearn.cluster": (
        "AffinityPropagation",
        "AgglomerativeClustering",
        "Birch",
        "BisectingKMeans",
        "DBSCAN",
        "FeatureAgglomeration",
        "HDBSCAN",
        "KMeans",
        "MeanShift",
        "MiniBatchKMeans",
        "OPTICS",
        "SpectralBiclustering",
        "SpectralClustering",
        "SpectralCoclustering",
    ),
    "sklearn.compose": ("ColumnTransformer", "TransformedTargetRegressor"),
    "sklearn.covariance": (
        "EllipticEnvelope",
        "EmpiricalCovariance",
        "GraphicalLasso",
        "GraphicalLassoCV",
        "LedoitWolf",
        "MinCovDet",
        "OAS",
        "ShrunkCovariance",
    ),
    "sklearn.cross_decomposition": ("CCA", "PLSCanonical", "PLSRegression", "PLSSVD"),
    "sklearn.decomposition": (
        "DictionaryLearning",
        "FactorAnalysis",
        "FastICA",
        "IncrementalPCA",
        "KernelPCA",
        "LatentDirichletAllocation",
        "MiniBatchDictionaryLearning",
        "MiniBatchNMF",
        "MiniBatchSparsePCA",
        "NMF",
        "PCA",
        "SparseCoder",
        "SparsePCA",
        "TruncatedSVD",
    ),
    "sklearn.discriminant_analysis": ("LinearDiscriminantAnalysis", "QuadraticDiscriminantAnalysis"),
    "sklearn.dummy": ("DummyClassifier", "DummyRegressor"),
    "sklearn.ensemble": (
        "AdaBoostClassifier",
        "AdaBoostRegressor",
        "BaggingClassifier",
        "BaggingRegressor",
        "ExtraTreesClassifier",
        "ExtraTreesRegressor",
        "GradientBoostingClassifier",
        "GradientBoostingRegressor",
        "HistGradientBoostingClassifier",
        "HistGradientBoostingRegressor",
        "IsolationForest",
        "RandomForestClassifier",
        "RandomForestRegressor",
        "RandomTreesEmbedding",
        "StackingClassifier",
        "StackingRegressor",
        "VotingClassifier",
        "VotingRegressor",
    ),
    "sklearn.feature_extraction": ("DictVectorizer", "FeatureHasher"),
    "sklearn.feature_extraction.image": ("PatchExtractor",),
    "sklearn.feature_extraction.text": ("TfidfTransformer",),
    "sklearn.feature_selection": (
        "GenericUnivariateSelect",
        "RFE",
        "RFECV",
        "SelectFdr",
        "SelectFpr",
        "SelectFromModel",
        "SelectFwe",
        "SelectKBest",
        "SelectPercentile",
        "SequentialFeatureSelector",
        "VarianceThreshold",
    ),
    "sklearn.frozen": ("FrozenEstimator",),
    "sklearn.gaussian_process": ("GaussianProcessClassifier", "GaussianProcessRegressor"),
    "sklearn.impute": ("KNNImputer", "MissingIndicator", "SimpleImputer"),
    "sklearn.isotonic": ("IsotonicRegression",),
    "sklearn.kernel_approximation": (
        "AdditiveChi2Sampler",
        "Nystroem",
        "PolynomialCountSketch",
        "RBFSampler",
        "SkewedChi2Sampler",
    ),
    "sklearn.kernel_ridge": ("KernelRidge",),
    "sklearn.linear_model": (
        "ARDRegression",
        "BayesianRidge",
        "ElasticNet",
        "ElasticNetCV",
        "GammaRegressor",
        "HuberRegressor",
        "Lars",
        "LarsCV",
        "Lasso",
        "LassoCV",
        "LassoLars",
        "LassoLarsCV",
        "LassoLarsIC",
        "LinearRegression",
        "LogisticRegression",
        "LogisticRegressionCV",
        "MultiTaskElasticNet",
        "MultiTaskElasticNetCV",
        "MultiTaskLasso",
        "MultiTaskLassoCV",
        "OrthogonalMatchingPursuit",
        "OrthogonalMatchingPursuitCV",
        "PassiveAggressiveClassifier",
        "PassiveAggressiveRegressor",
        "Perceptron",
        "PoissonRegressor",
        "QuantileRegressor",
        "RANSACRegressor",
        "Ridge",
        "RidgeCV",
        "RidgeClassifier",
        "RidgeClassifierCV",
        "SGDClassifier",
        "SGDOneClassSVM",
        "SGDRegressor",
        "TheilSenRegressor",
        "TweedieRegressor",
    ),
    "sklearn.manifold": (
        "ClassicalMDS",
        "Isomap",
        "LocallyLinearEmbedding",
        "MDS",
        "SpectralEmbedding",
        "TSNE",
    ),
    "sklearn.mixture": ("BayesianGaussianMixture", "GaussianMixture"),
    "sklearn.model_selection": (
        "FixedThresholdClassifier",
        "GridSearchCV",
        "RandomizedSearchCV",
        "TunedThresholdClassifierCV",
    ),
    "sklearn.multiclass": ("OneVsOneClassifier", "OneVsRestClassifier", "OutputCodeClassifier"),
    "sklearn.multioutput": ("ClassifierChain", "MultiOutputClassifier", "MultiOutputRegressor", "RegressorChain"),
    "sklearn.naive_bayes": ("BernoulliNB", "CategoricalNB", "ComplementNB", "GaussianNB", "MultinomialNB"),
    "sklearn.neighbors": (
        "KNeighborsClassifier",
        "KNeighborsRegressor",
        "KNeighborsTransformer",
        "KernelDensity",
        "LocalOutlierFactor",
        "NearestCentroid",
        "NearestNeighbors",
        "NeighborhoodComponentsAnalysis",
        "RadiusNeighborsClassifier",
        "RadiusNeighborsRegressor",
        "RadiusNeighborsTransformer",
        # The search structures a fitted neighbours model holds.
        "BallTree",
        "KDTree",
    ),
    "sklearn.neural_network": ("BernoulliRBM", "MLPClassifier", "MLPRegressor"),
    "sklearn.pipeline": ("FeatureUnion", "Pipeline"),
    "sklearn.preprocessing": (
        "Binarizer",
        "FunctionTransformer",
        "KBinsDiscretizer",
        "KernelCenterer",
        "LabelBinarizer",
        "LabelEncoder",
        "MaxAbsScaler",
        "MinMaxScaler",
        "MultiLabelBinarizer",
        "Normalizer",
        "OneHotEncoder",
        "OrdinalEncoder",
        "PolynomialFeatures",
        "PowerTransformer",
        "QuantileTransformer",
        "RobustScaler",
        "SplineTransformer",
        "StandardScaler",
        "TargetEncoder",
    ),
    "sklearn.random_projection": ("GaussianRandomProjection", "SparseRandomProjection"),
    "sklearn.semi_supervised": ("LabelPropagation", "LabelSpreading", "SelfTrainingClassifier"),
    "sklearn.svm": ("LinearSVC", "LinearSVR", "NuSVC", "NuSVR", "OneClassSVM", "SVC", "SVR"),
    "sklearn.tree": ("DecisionTreeClassifier", "DecisionTreeRegressor", "ExtraTreeClassifier", "ExtraTreeRegressor"),
}

# Private scikit-learn types that fitted estimators hold (tree storage, losses and links of the
# boosting models, histogram binning, distance metrics of the neighbours models).
_SKLEARN_INTERNALS: dict[str, tuple[str, ...]] = {
    "sklearn.tree._tree": ("Tree",),
    "sklearn.ensemble._hist_gradient_boosting.binning": ("_BinMapper",),
    "sklearn.ensemble._hist_gradient_boosting.predictor": ("TreePredictor",),
    "sklearn._loss.loss": (
        "AbsoluteError",
        "ExponentialLoss",
        "HalfBinomialLoss",
        "HalfGammaLoss",
        "HalfMultinomialLoss",
        "HalfPoissonLoss",
        "HalfSquaredError",
        "HalfTweedieLoss",
        "HalfTweedieLossIdentity",
        "HuberLoss",
        "PinballLoss",
    ),
    "sklearn._loss._loss": (
        "CyAbsoluteError",
        "CyExponentialLoss",
        "CyHalfBinomialLoss",
        "CyHalfGammaLoss",
        "CyHalfMultinomialLoss",
        "CyHalfPoissonLoss",
        "CyHalfSquaredError",
        "CyHalfTweedieLoss",
        "CyHalfTweedieLossIdentity",
        "CyHuberLoss",
        "CyPinballLoss",
    ),
    "sklearn._loss.link": ("HalfLogitLink", "IdentityLink", "Interval", "LogLink", "LogitLink", "MultinomialLogit"),
    "sklearn.linear_model._sgd_fast": (
        "EpsilonInsensitive",
        "Hinge",
        "ModifiedHuber",
        "SquaredEpsilonInsensitive",
        "SquaredHinge",
    ),
    "sklearn.neural_network._stochastic_optimizers": ("AdamOptimizer", "SGDOptimizer"),
    "sklearn.utils": ("Bunch",),
    "sklearn.metrics._dist_metrics": (
        "ChebyshevDistance32",
        "ChebyshevDistance64",
        "EuclideanDistance32",
        "EuclideanDistance64",
        "ManhattanDistance32",
        "ManhattanDistance64",
        "MinkowskiDistance32",
        "MinkowskiDistance64",
    ),
}

# The arrays, scalars, dtypes and random states that hold a fitted model's numbers.
_ARRAY_TYPES: dict[str, tuple[str, ...]] = {
    "builtins": (
        "bool",
        "bytearray",
        "bytes",
        "complex",
        "dict",
        "float",
        "frozenset",
        "int",
        "list",
        "set",
        "slice",
        "str",
        "tuple",
    ),
    "collections": ("OrderedDict",),
    "numpy": (
        "ndarray",
        "dtype",
        "bool",
        "bytes_",
        "clongdouble",
        "complex128",
        "complex64",
        "datetime64",
        "float16",
        "float32",
        "float64",
        "int16",
        "int32",
        "int64",
        "int8",
        "longdouble",
        "longlong",
        "object_",
        "str_",
        "timedelta64",
        "uint16",
        "uint32",
        "uint64",
        "uint8",
        "ulonglong",
        "void",
    ),
    "numpy.ma": ("MaskedArray",),
    "numpy.random": ("Generator", "MT19937", "PCG64", "PCG64DXSM", "Philox", "RandomState", "SFC64"),
    "scipy.sparse": (
        "bsr_array",
        "bsr_matrix",
        "coo_array",
        "coo_matrix",
        "csc_array",
        "csc_matrix",
        "csr_array",
        "csr_matrix",
        "dia_array",
        "dia_matrix",
    ),
}

# The only functions a model may carry: element-wise numpy ufuncs for a FunctionTransformer's func or
# a TransformedTargetRegressor's func and inverse_func, and the scores a fitted feature selector keeps;
# each computes on the arrays it is given and touches nothing else.
TRUSTED_FUNCTIONS: tuple[str, ...] = tuple(
    f"numpy.{name}"
    for name in (
        "absolute",
        "arcsinh",
        "cbrt",
        "exp",
        "exp2",
        "expm1",
        "log",
        "log10",
        "log1p",
        "log2",
        "negative",
        "reciprocal",
        "sinh",
        "sqrt",
        "square",
        "tanh",
    )
) + tuple(
    f"sklearn.feature_selection.{name}"
    for name in (
        "chi2",
        "f_classif",
        "f_oneway",
        "f_regression",
        "mutual_info_classif",
        "mutual_info_regression",
        "r_regression",
    )
)


def _listed(table: dict[str, tuple[str, ...]]) -> tuple[str, ...]:
    return tuple(f"{module}.{name}" for module, names in table.items() for name in names)


TRUSTED_TYPES: tuple[str, ...] = _listed(_SKLEARN_ESTIMATORS) + _listed(_SKLEARN_INTERNALS) + _listed(_ARRAY_TYPES)
_SKOPS_MEMBER = re.compile(r"^[A-Za-z0-9_-]{1,128}\.(npy|npz|bin)$")
_NPY_MAGIC = b"\x93NUMPY"
_EXHAUSTED = "exhausted before seeing STOP"  # pickletools' message when the stream ends early
_MAX_PATH_LENGTH = 1024
# What reading a damaged, encrypted or oddly compressed archive raises (RecursionError: deep JSON).
_READ_ERRORS = (
    ValueError,
    RuntimeError,
    NotImplementedError,
    OSError,
    EOFError,
    zipfile.LargeZipFile,
    zlib.error,
    lzma.LZMAError,
    tarfile.TarError,
)
_FORBIDDEN_CHARACTERS = frozenset("\\#?;%")
_DRIVE_LETTER = re.compile(r"^[A-Za-z]:")


class UnsafeModelFile(ValueError):
    """A model file holds something that could act when loaded or inflate without bound."""

    def __init__(
        self,
        message: str,
        *,
        untrusted_types: list[str] | None = None,
        is_pickle: bool = False,
        too_large: bool = False,
    ) -> None:
        super().__init__(message)
        self.untrusted_types = untrusted_types or []
        self.is_pickle = is_pickle
        self.too_large = too_large


def check_relative_path(raw: str) -> str:
    """`raw` if it is a plain relative path of a file in a model folder, else ValueError saying why:
    the rules of the server's artifact paths, with percent signs refused outright."""
    if not raw or len(raw) > _MAX_PATH_LENGTH:
        raise ValueError(f"path must be 1 to {_MAX_PATH_LENGTH} characters")
    for char in raw:
        if unicodedata.category(char) == "Cc":
            raise ValueError(f"path holds a control character (U+{ord(char):04X})")
        if char in _FORBIDDEN_CHARACTERS:
            raise ValueError(f"path holds {char!r}")
    if raw.startswith("/") or _DRIVE_LETTER.match(raw):
        raise ValueError("path must be relative")
    if any(segment in ("", ".", "..") for segment in raw.split("/")):
        raise ValueError("path holds an empty, '.' or '..' segment")
    return raw


@lru_cache(maxsize=1)
def trusted_names() -> frozenset[str]:
    """Every listed name, plus the name skops records for it: the defining module, which for a
    public class is often private (sklearn.ensemble.RandomForestClassifier lives in sklearn.ensemble._forest)."""
    names = set(TRUSTED_TYPES) | set(TRUSTED_FUNCTIONS)
    for listed in TRUSTED_TYPES + TRUSTED_FUNCTIONS:
        module_name, _, attribute = listed.rpartition(".")
        try:
            found = getattr(importlib.import_module(module_name), attribute)
        except (ImportError, AttributeError):
            continue  # not in this library version, so no file that loads here can hold it
        module = getattr(found, "__module__", None) or module_name
        names.add(f"{module}.{getattr(found, '__name__', attribute)}")
    return frozenset(names)


def untrusted(names: Iterable[str]) -> list[str]:
    """The names that are not on the allow-list, sorted."""
    trusted = trusted_names()
    return sorted({name for name in names if name not in trusted})


def schema_names(schema: Any) -> set[str]:
    """Every type and function a skops schema names, at any depth: what loading would import.

    Read from the schema itself rather than taken from skops' report, so what skops trusts by
    default (every numpy ufunc, say) still has to be on this allow-list."""
    found: set[str] = set()
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            module, name = node.get("__module__"), node.get("__class__")
            if isinstance(module, str) and isinstance(name, str):
                found.add(f"{module}.{name}")
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


def _check_member_kind(info: zipfile.ZipInfo, where: str) -> None:
    mode = info.external_attr >> 16
    if info.create_system == 3 and stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFDIR):
        kind = "a link" if stat.S_ISLNK(mode) else "a device, fifo or socket"
        raise UnsafeModelFile(f"{where} holds {kind}: {info.filename!r}")


def check_ratio(info: zipfile.ZipInfo, where: str, *, max_ratio: float, min_bytes: int) -> None:
    """Refuse an entry that would inflate past the ratio bound, before it is inflated."""
    if info.file_size > min_bytes and info.file_size > max_ratio * max(info.compress_size, 1):
        raise UnsafeModelFile(
            f"{where}: {info.filename!r} inflates {info.file_size} bytes from {info.compress_size}, past the "
            f"{max_ratio:g}:1 bound",
            too_large=True,
        )


def check_skops_archive(
    path: Path, *, max_ratio: float = MAX_COMPRESSION_RATIO, min_bytes: int = COMPRESSION_RATIO_MIN_BYTES
) -> Any:
    """Check the members of a skops file and return its schema: only `schema.json` and the array
    and bytes files skops writes, all regular files within the ratio bound, none a pickle.
    UnsafeModelFile for what could act or inflate, ValueError for a file that is merely damaged."""
    try:
        return _check_skops_archive(path, max_ratio=max_ratio, min_bytes=min_bytes)
    except UnsafeModelFile:
        raise
    except _READ_ERRORS as exc:
        raise ValueError(f"{path.name} cannot be read as a skops file ({type(exc).__name__})") from exc


def _check_skops_archive(path: Path, *, max_ratio: float, min_bytes: int) -> Any:
    where = path.name
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ValueError(f"{where} is not a skops file") from exc
    with archive:
        for info in archive.infolist():
            _check_member_kind(info, where)
            check_ratio(info, where, max_ratio=max_ratio, min_bytes=min_bytes)
            if info.filename != "schema.json" and not _SKOPS_MEMBER.match(info.filename):
                raise UnsafeModelFile(f"{where} holds {info.filename!r}, which skops does not write")
            with archive.open(info) as member:
                head = member.read(_SNIFF_BYTES)
                if info.filename.endswith(".npz"):
                    _check_npz(member, f"{where}/{info.filename}", max_ratio=max_ratio, min_bytes=min_bytes)
            if info.filename.endswith(".npy") and not head.startswith(_NPY_MAGIC):
                raise UnsafeModelFile(f"{where}: {info.filename!r} is not a numpy array file")
            # An array file is read by numpy without pickles (skops loads with allow_pickle=False).
            if not info.filename.endswith((".npy", ".npz")) and looks_like_pickle_bytes(
                head, complete=len(head) < _SNIFF_BYTES
            ):
                raise UnsafeModelFile(f"{where} holds a pickle: {info.filename!r}", is_pickle=True)
        if "schema.json" not in archive.namelist():
            raise ValueError(f"{where} is not a skops file: it has no schema.json")
        try:
            return json.loads(archive.read("schema.json"))
        except ValueError as exc:
            raise ValueError(f"{where} is not a skops file: its schema.json is not JSON") from exc


def _check_npz(handle: IO[bytes], where: str, *, max_ratio: float, min_bytes: int) -> None:
    """A sparse matrix file: a zip of numpy array files and nothing else."""
    handle.seek(0)
    try:
        archive = zipfile.ZipFile(handle)
    except zipfile.BadZipFile as exc:
        raise UnsafeModelFile(f"{where} is not a numpy archive") from exc
    with archive:
        for info in archive.infolist():
            _check_member_kind(info, where)
            check_ratio(info, where, max_ratio=max_ratio, min_bytes=min_bytes)
            with archive.open(info) as member:
                if not info.filename.endswith(".npy") or member.read(len(_NPY_MAGIC)) != _NPY_MAGIC:
                    raise UnsafeModelFile(f"{where} holds {info.filename!r}, which is not a numpy array file")


def looks_like_pickle_bytes(data: bytes, *, complete: bool) -> bool:
    """Whether `data` (a file's start, or all of it when `complete`) is a pickle stream of any
    protocol: pickle's own disassembler, which checks the stack and memo as it goes without running
    anything, reads it to a STOP, or through the whole sample of a longer file."""
    if data[:1] == b"\x80" and data[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return True
    if not data:
        return False
    try:
        pickletools.dis(data, out=io.StringIO())
    except ValueError as exc:
        # Only running out of bytes means a pickle longer than the sample; any other error is not a pickle.
        return not complete and _EXHAUSTED in str(exc)
    except (TypeError, EOFError, UnicodeDecodeError, OverflowError, KeyError, IndexError):
        return False
    return True


def _decompressed(head: bytes, handle: IO[bytes]) -> IO[bytes] | None:
    if head.startswith(b"\x1f\x8b"):
        return cast(IO[bytes], gzip.GzipFile(fileobj=handle))
    if head.startswith(b"BZh"):
        return cast(IO[bytes], bz2.BZ2File(handle))
    if head.startswith(b"\xfd7zXZ\x00") or head.startswith(b"\x5d\x00\x00"):
        return cast(IO[bytes], lzma.LZMAFile(handle))
    return None


def _read_head(handle: IO[bytes]) -> tuple[bytes, bool]:
    try:
        head = handle.read(_SNIFF_BYTES)
    except (OSError, EOFError, lzma.LZMAError, zipfile.BadZipFile) as exc:
        raise UnsafeModelFile(f"a compressed stream cannot be read: {exc}") from exc
    return head, len(head) < _SNIFF_BYTES


def find_pickles(
    path: Path,
    *,
    label: str | None = None,
    max_ratio: float = MAX_COMPRESSION_RATIO,
    min_bytes: int = COMPRESSION_RATIO_MIN_BYTES,
) -> None:
    """Refuse a file that is, or holds, a pickle: plain, gzip/bz2/xz-compressed, or inside a zip or
    tar archive (nested up to MAX_NESTING deep). `label` names the file in refusals (its path in the model)."""
    where = label or path.name
    try:
        with path.open("rb") as handle:
            _sniff(handle, where, 0, max_ratio=max_ratio, min_bytes=min_bytes)
    except UnsafeModelFile:
        raise
    except _READ_ERRORS as exc:
        # What cannot be read (an encrypted member, an unknown compression) cannot be shown pickle-free.
        raise UnsafeModelFile(f"{where} holds an archive that cannot be inspected ({type(exc).__name__})") from exc


def _sniff(handle: IO[bytes], where: str, depth: int, *, max_ratio: float, min_bytes: int) -> None:
    if depth > MAX_NESTING:
        raise UnsafeModelFile(f"{where} nests archives more than {MAX_NESTING} deep")
    head, complete = _read_head(handle)
    if looks_like_pickle_bytes(head, complete=complete):
        raise UnsafeModelFile(f"{where} is a pickle", is_pickle=True)
    inner = _decompressed(head, _rewound(handle, head))
    if inner is not None:
        with inner:
            _inflate_within(inner, handle, where, max_ratio=max_ratio, min_bytes=min_bytes)
            _sniff(inner, f"{where} (decompressed)", depth + 1, max_ratio=max_ratio, min_bytes=min_bytes)
        return
    for name, member in _archive_members(head, _rewound(handle, head), where, max_ratio, min_bytes):
        with member:
            _sniff(member, f"{where}/{name}", depth + 1, max_ratio=max_ratio, min_bytes=min_bytes)


def _inflate_within(inner: IO[bytes], outer: IO[bytes], where: str, *, max_ratio: float, min_bytes: int) -> None:
    """Inflate a compressed stream once, stopping at the ratio bound (a gzip, bz2 or xz stream
    states no size to check beforehand), so nothing after it reads a bomb."""
    position = outer.tell()
    stored = outer.seek(0, 2)
    outer.seek(position)
    budget = max(min_bytes, max_ratio * max(stored, 1))
    total = 0
    while chunk := inner.read(1024 * 1024):
        total += len(chunk)
        if total > budget:
            raise UnsafeModelFile(
                f"{where} inflates past the {max_ratio:g}:1 bound of its {stored} compressed bytes", too_large=True
            )
    inner.seek(0)


def _rewound(handle: IO[bytes], head: bytes) -> IO[bytes]:
    """The stream from its start again (files, zip and tar members and the decompressors all seek)."""
    if not handle.seekable():
        raise UnsafeModelFile("a nested stream cannot be read twice")
    handle.seek(0)
    return handle


def _archive_members(
    head: bytes, handle: IO[bytes], where: str, max_ratio: float, min_bytes: int
) -> Iterator[tuple[str, IO[bytes]]]:
    if head.startswith(b"PK\x03\x04") and handle.seekable():
        try:
            archive = zipfile.ZipFile(handle)
        except zipfile.BadZipFile:
            return
        with archive:
            for info in archive.infolist():
                _check_member_kind(info, where)
                check_ratio(info, where, max_ratio=max_ratio, min_bytes=min_bytes)
                if not info.is_dir():
                    yield info.filename, archive.open(info)
        return
    if head[257:262] == b"ustar":
        try:
            with tarfile.open(fileobj=handle, mode="r:") as tar:
                for entry in tar:
                    if not (entry.isfile() or entry.isdir()):
                        raise UnsafeModelFile(f"{where} holds a link or device: {entry.name!r}")
                    extracted = tar.extractfile(entry)
                    if extracted is not None:
                        yield entry.name, extracted
        except tarfile.TarError as exc:
            raise UnsafeModelFile(f"{where} is a damaged tar archive") from exc
