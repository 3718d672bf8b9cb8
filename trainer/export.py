"""One SavedModel layout for all five models: raw strings in, the Transform graph embedded.

Signatures (B = batch, K = top_k, D = embedding width, C = keys.MOVIE_COALITIONS = 8):

| name | inputs | outputs |
| --- | --- | --- |
| recommend | user_id [B], history [B], exclude_movie_ids [B] | movie_ids, scores [B, K] |
| predict_rating | user_id [B], movie_id [B]  (rating models only) | predicted_rating [B] |
| serving_default | = recommend (retrieval models) or predict_rating (rating models) |  |
| serving_tf_example | examples [B] raw tf.Examples | movie_ids, scores, popular_movie_ids |
| item_embeddings | movie_id [B] | embedding [B, D], known [B] |
| similar_items | movie_id [B] | movie_ids [B, K], scores [B, K], known [B] |
| score_features | user_id [B], user_reset [B, 4], history_keep [B, L], movie_id [B] | |
| | | scores [B, C], user_known [B], movie_known [B], history_movie_ids [B, L] |

Every input is [B] or [B, fixed] and every output's first dimension is B, so TF Serving's
batching (--enable_batching) may concatenate concurrent requests along B and split the answers
back without changing any of them. That is why a list of ids (history, exclude_movie_ids) is
ONE string per row, ids separated by whitespace (keys.ID_SEPARATOR; "" = an empty list):
[B, N] lists would need the same N in every request batched together, and TF Serving pads a
shorter one with its first id, which would silently add a movie to a history.

serving_tf_example (for TFMA) leaves out the user's training movies and adds the popularity
baseline's top-K; rating models add predicted_rating. Unknown users fall back to the
out-of-vocabulary embedding; history given in the request replaces the stored one (for a new
user); unknown movies are `known=False` and get the most popular movies (the vocabulary is
frequency-ordered) with score 0 from `similar_items`, never an error.

score_features scores row b's (user, movie) pair from the model's own features with chosen
feature groups reset to a reference value: the model's input, per group, for an unknown user
or movie (the unknown-user row of the user table and an out-of-vocabulary movie). Columns of
user_reset are keys.USER_GROUPS; history_keep [B, L] keeps or drops each position of the
user's stored history (the latest L training movies, newest last, named by history_movie_ids,
"" = padding). Column c of scores is the movie under movie-side coalition c: movie group i
(keys.MOVIE_GROUPS) is kept iff bit i of c is set, reset otherwise. The score is the predicted
rating for rating models and the retrieval score (`recommend`'s) for the others; with nothing
reset (user_reset all False, history_keep all True, column C - 1) it equals those signatures'
scores. It lets a caller compute exact Shapley values over feature groups
(recsys.serving.explain): one call scores all 2^n coalitions, user-side coalitions as rows.

| group | reference (reset) value |
| --- | --- |
| user_id, movie_id | the out-of-vocabulary id (its embedding row) |
| gender, occupation | vocabulary index 0, the most common value |
| age, year | bucket 0, the youngest age / earliest release years |
| genres | no genres (all-zero multi-hot) |
| history position | dropped (padding) |
"""

from __future__ import annotations

import tensorflow as tf
import tensorflow_transform as tft

from contract import features as F
from contract import keys
from contract.catalogue import Kind
from trainer.models.base import RecommenderModel

Features = dict[str, tf.Tensor]
STRING_BATCH = tf.TensorSpec([None], tf.string)
# score_features' reset columns (keys.USER_GROUPS / keys.MOVIE_GROUPS), in order: (transformed
# feature, its reference value or None for the out-of-vocabulary id).
_USER_RESETS = ((F.USER_INDEX, None), (F.GENDER_INDEX, 0), (F.AGE_BUCKET, 0),
                (F.OCCUPATION_INDEX, 0))
_MOVIE_RESETS = ((F.MOVIE_INDEX, None), (F.GENRES_MULTI_HOT, 0), (F.YEAR_BUCKET, 0))
# [C, groups]: movie-side coalition c keeps group i iff bit i of c is set.
_COALITION_KEEPS = [[(c >> i) & 1 == 1 for i in range(len(_MOVIE_RESETS))]
                    for c in range(keys.MOVIE_COALITIONS)]


class ServingModule(tf.Module):
    """Wraps a trained model with the Transform layer and the lookup tables serving needs.

    `users` holds per-user side features and latest history gathered at training time
    ([U + 1, ...], last row = unknown user), so a request needs only ids; `seen` [U + 1, None]
    the movie indices each user rated in training (the evaluation signature leaves them out).
    """

    def __init__(
        self,
        model: RecommenderModel,
        tf_transform_output: tft.TFTransformOutput,
        catalogue: Features,
        users: Features,
        top_k: int,
        seen: tf.RaggedTensor,
    ):
        super().__init__()
        self.model = model
        self.tft_layer = tf_transform_output.transform_features_layer()
        self._raw_spec = {
            name: spec for name, spec in tf_transform_output.raw_feature_spec().items()
            if name != F.LABEL}
        self.top_k = top_k
        self.movie_ids = tf.constant(tf_transform_output.vocabulary_by_name(F.MOVIE_VOCAB))
        self.catalogue = catalogue
        self.users = users
        self.seen_movies, self.seen_row_splits = seen.flat_values, seen.row_splits
        self.candidates = tf.constant(model.candidate_embeddings(catalogue))
        self.item_vectors = tf.constant(
            tf.math.l2_normalize(model.item_embeddings(catalogue), axis=-1))
        if model.kind == Kind.RATING:  # saving traces every tf.function attribute: only if usable
            self.predict_rating = tf.function(
                self._predict_rating, input_signature=[STRING_BATCH, STRING_BATCH])
        # history_keep is as wide as the data's history (users' history_index [U + 1, L]).
        self.score_features = tf.function(self._score_features, input_signature=[
            STRING_BATCH, tf.TensorSpec([None, len(keys.USER_GROUPS)], tf.bool),
            tf.TensorSpec([None, users[F.HISTORY_INDEX].shape[1]], tf.bool), STRING_BATCH])

    # -- raw ids -> transformed features -------------------------------------------------
    def _transform(self, raw: Features) -> Features:
        """Runs the Transform graph on partial raw features, defaulting the absent ones."""
        batch = tf.shape(next(iter(raw.values())), out_type=tf.int64)[0]
        complete = {}
        for name, spec in self._raw_spec.items():
            if name in raw:
                complete[name] = raw[name]
            elif isinstance(spec, tf.io.VarLenFeature):
                complete[name] = tf.SparseTensor(
                    tf.zeros([0, 2], tf.int64), tf.zeros([0], spec.dtype), [batch, 0])
            else:
                default = "" if spec.dtype == tf.string else 0
                complete[name] = tf.fill([batch, 1], tf.constant(default, spec.dtype))
        return self.tft_layer(complete)

    def _query_features(self, user_id: tf.Tensor, history: tf.Tensor) -> Features:
        transformed = self._transform({
            F.USER_ID: tf.expand_dims(user_id, 1), F.HISTORY: _id_lists(history)})
        user_index = tf.minimum(transformed[F.USER_INDEX], self._unknown_user)
        features = {name: tf.gather(table, user_index) for name, table in self.users.items()}
        features[F.USER_INDEX] = transformed[F.USER_INDEX]
        given = transformed[F.HISTORY_LENGTH_FEATURE] > 0
        for name in (F.HISTORY_INDEX, F.HISTORY_LENGTH_FEATURE):
            features[name] = _where_rows(given, transformed[name], features[name])
        return features

    @property
    def _unknown_user(self) -> tf.Tensor:
        return tf.shape(self.users[F.HISTORY_LENGTH_FEATURE], out_type=tf.int64)[0] - 1

    def _movie_index(self, movie_id: tf.Tensor) -> tf.Tensor:
        transformed = self._transform({F.MOVIE_ID: tf.expand_dims(movie_id, 1)})
        return transformed[F.MOVIE_INDEX]

    # -- scoring ---------------------------------------------------------------------------
    def _top_k(self, query: Features, exclude: tf.Tensor) -> Features:
        scores = self.model.top_k_scores(self.model.query_embeddings(query), self.candidates,
                                         exclude)
        top = tf.math.top_k(scores, k=self.top_k)
        return {"movie_ids": tf.gather(self.movie_ids, top.indices), "scores": top.values}

    def _exclusion_mask(self, movie_ids: tf.Tensor) -> tf.Tensor:
        """[B] id lists -> [B, M] True where a movie is excluded."""
        sparse = _id_lists(movie_ids)
        index = self._movie_index(tf.reshape(sparse.values, [-1]))
        return self._mask(sparse.indices[:, 0], index, tf.shape(movie_ids, out_type=tf.int64)[0])

    def _seen_mask(self, user_index: tf.Tensor) -> tf.Tensor:
        """[B] user indices -> [B, M] True where the user rated the movie in training."""
        seen = tf.RaggedTensor.from_row_splits(self.seen_movies, self.seen_row_splits)
        rows = tf.gather(seen, tf.minimum(user_index, seen.nrows() - 1))
        return self._mask(rows.value_rowids(), rows.flat_values, tf.size(user_index, tf.int64))

    def _history_mask(self, history_index: tf.Tensor) -> tf.Tensor:
        """[B, L] history (movie_index + 1, 0 = padding) -> [B, M] True at its movies."""
        given = tf.where(history_index > 0)  # [n, 2]: (row, position)
        movies = tf.gather_nd(history_index, given) - 1
        return self._mask(given[:, 0], movies, tf.shape(history_index, out_type=tf.int64)[0])

    def _mask(self, rows: tf.Tensor, movie_index: tf.Tensor, batch: tf.Tensor) -> tf.Tensor:
        """[B, M] bool, True at each (row, movie) pair; out-of-vocabulary movies are dropped."""
        num_movies = tf.shape(self.movie_ids, out_type=tf.int64)[0]
        known = movie_index < num_movies
        hits = tf.stack([tf.boolean_mask(rows, known), tf.boolean_mask(movie_index, known)], 1)
        mask = tf.scatter_nd(hits, tf.ones([tf.shape(hits)[0]], tf.int32),
                             tf.stack([batch, num_movies]))
        return mask > 0

    def _popular(self, exclude: tf.Tensor) -> tf.Tensor:
        """[B, K] ids of the most rated movies not excluded (the vocabulary is frequency-ordered,
        so popularity is the index order): the baseline TFMA compares the model with."""
        num_movies = tf.shape(self.movie_ids)[0]
        by_popularity = -tf.cast(tf.range(num_movies), tf.float32)[None, :]
        scores = tf.where(exclude, -1e9, by_popularity)
        return tf.gather(self.movie_ids, tf.math.top_k(scores, k=self.top_k).indices)

    @tf.function(input_signature=[STRING_BATCH, STRING_BATCH, STRING_BATCH])
    def recommend(self, user_id, history, exclude_movie_ids):
        return self._top_k(
            self._query_features(user_id, history), self._exclusion_mask(exclude_movie_ids))

    def _predict_rating(self, user_id, movie_id):
        features = self._query_features(user_id, tf.fill(tf.shape(user_id), ""))
        features.update(self._movie_features(self._movie_index(movie_id)))
        return {"predicted_rating": self.model.predict_rating(features)}

    def _movie_features(self, movie_index: tf.Tensor) -> Features:
        known = tf.minimum(movie_index, tf.shape(self.movie_ids, out_type=tf.int64)[0] - 1)
        features = {name: tf.gather(self.catalogue[name], known)
                    for name in (F.GENRES_MULTI_HOT, F.YEAR_BUCKET)}
        features[F.MOVIE_INDEX] = movie_index
        return features

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def serving_tf_example(self, examples):
        """For TFMA: protocol TOPK's top-K (seen movies removed: the user's training movies and
        the history the example gives, a new user's given ratings), the popularity baseline's
        top-K on the same terms, and the predicted rating for rating models."""
        features = self.tft_layer(tf.io.parse_example(examples, self._raw_spec))
        seen = (self._seen_mask(features[F.USER_INDEX])
                | self._history_mask(features[F.HISTORY_INDEX]))
        outputs = self._top_k(features, seen)
        outputs["popular_movie_ids"] = self._popular(seen)
        if self.model.kind == Kind.RATING:
            outputs["predicted_rating"] = self.model.predict_rating(features)
        return outputs

    # -- item vectors ------------------------------------------------------------------------
    def _lookup_items(self, movie_id: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        index = self._movie_index(movie_id)
        known = index < tf.shape(self.movie_ids, out_type=tf.int64)[0]
        return tf.where(known, index, 0), known

    @tf.function(input_signature=[STRING_BATCH])
    def item_embeddings(self, movie_id):
        index, known = self._lookup_items(movie_id)
        vectors = tf.gather(self.item_vectors, index)
        return {"embedding": tf.where(known[:, None], vectors, 0.0), "known": known}

    @tf.function(input_signature=[STRING_BATCH])
    def similar_items(self, movie_id):
        index, known = self._lookup_items(movie_id)
        cosine = tf.matmul(tf.gather(self.item_vectors, index), self.item_vectors,
                           transpose_b=True)
        cosine = tf.tensor_scatter_nd_update(  # a movie is not similar to itself
            cosine, tf.stack([tf.range(tf.size(index, out_type=tf.int64)), index], 1),
            tf.fill(tf.shape(index), tf.constant(-2.0)))
        top = tf.math.top_k(cosine, k=self.top_k)
        popular = tf.range(self.top_k)[None, :]  # the vocabulary is frequency-ordered
        indices = tf.where(known[:, None], top.indices, popular)
        scores = tf.where(known[:, None], top.values, 0.0)
        return {"movie_ids": tf.gather(self.movie_ids, indices), "scores": scores,
                "known": known}

    # -- explanation -------------------------------------------------------------------------
    def _score_features(self, user_id, user_reset, history_keep, movie_id):
        users = self._query_features(user_id, tf.fill(tf.shape(user_id), ""))
        history_ids = tf.gather(  # history_index = movie index + 1, M + 1 out of vocabulary
            tf.concat([[""], self.movie_ids, [F.UNKNOWN_TOKEN]], 0), users[F.HISTORY_INDEX])
        user_known = users[F.USER_INDEX] < self._unknown_user
        movie_index = self._movie_index(movie_id)
        scores = self._coalition_scores(self._reset_user(users, user_reset, history_keep),
                                        movie_index)
        return {"scores": scores, "user_known": user_known,
                "movie_known": movie_index < tf.shape(self.movie_ids, out_type=tf.int64)[0],
                "history_movie_ids": history_ids}

    def _reset_user(self, users: Features, reset: tf.Tensor, keep: tf.Tensor) -> Features:
        users = dict(users)
        for column, (name, reference) in enumerate(_USER_RESETS):
            value = self._unknown_user if reference is None else reference
            users[name] = tf.where(reset[:, column], tf.cast(value, users[name].dtype),
                                   users[name])
        users[F.HISTORY_INDEX] = tf.where(keep, users[F.HISTORY_INDEX], 0)
        users[F.HISTORY_LENGTH_FEATURE] = tf.math.count_nonzero(
            users[F.HISTORY_INDEX], axis=1, dtype=users[F.HISTORY_LENGTH_FEATURE].dtype)
        return users

    def _movie_content(self, movie_index: tf.Tensor) -> Features:
        """movie_index [N] -> the catalogue's features; an unknown movie gets the reference
        content (`_movie_features`, for predict_rating, clamps it to the last catalogue row)."""
        features = self._movie_features(movie_index)
        known = movie_index < tf.shape(self.movie_ids, out_type=tf.int64)[0]
        for name in (F.GENRES_MULTI_HOT, F.YEAR_BUCKET):
            features[name] = _where_rows(known, features[name], tf.zeros_like(features[name]))
        return features

    def _movie_variants(self, movie_index: tf.Tensor) -> Features:
        """movie_index [N] -> [N * C] features: each movie under every movie-side coalition
        (row n * C + c: group i kept iff bit i of c is set, else reset to its reference)."""
        coalitions = keys.MOVIE_COALITIONS
        movies = self._movie_content(tf.repeat(movie_index, coalitions))
        kept = tf.tile(tf.constant(_COALITION_KEEPS), [tf.size(movie_index), 1])  # [N * C, g]
        num_movies = tf.shape(self.movie_ids, out_type=tf.int64)[0]
        for column, (name, reference) in enumerate(_MOVIE_RESETS):
            value = tf.cast(num_movies if reference is None else reference, movies[name].dtype)
            movies[name] = _where_rows(kept[:, column], movies[name],
                                       tf.fill(tf.shape(movies[name]), value))
        return movies

    def _coalition_scores(self, users: Features, movie_index: tf.Tensor) -> tf.Tensor:
        """[B, C]: row b's user with row b's movie under every movie-side coalition; the
        predicted rating (rating models) or the retrieval score."""
        coalitions = keys.MOVIE_COALITIONS
        if self.model.kind == Kind.RATING:
            pairs = {name: tf.repeat(value, coalitions, axis=0) for name, value in users.items()}
            pairs.update(self._movie_variants(movie_index))
            return tf.reshape(self.model.predict_rating(pairs), [-1, coalitions])
        # Each distinct movie's variants are embedded once (an explanation asks one movie).
        distinct, position = tf.unique(movie_index)
        scores = self.model.score(self.model.query_embeddings(users),
                                  self.model.candidate_embeddings(self._movie_variants(distinct)))
        columns = position[:, None] * coalitions + tf.range(coalitions)[None, :]
        return tf.gather(scores, columns, batch_dims=1)

    def signatures(self) -> dict[str, tf.types.experimental.ConcreteFunction]:
        main = self.predict_rating if self.model.kind == Kind.RATING else self.recommend
        signatures = {
            "serving_default": main.get_concrete_function(),
            keys.RECOMMEND: self.recommend.get_concrete_function(),
            keys.SERVING_TF_EXAMPLE: self.serving_tf_example.get_concrete_function(),
            keys.ITEM_EMBEDDINGS: self.item_embeddings.get_concrete_function(),
            keys.SIMILAR_ITEMS: self.similar_items.get_concrete_function(),
            keys.SCORE_FEATURES: self.score_features.get_concrete_function(),
        }
        if self.model.kind == Kind.RATING:
            signatures[keys.PREDICT_RATING] = self.predict_rating.get_concrete_function()
        return signatures


def export(module: ServingModule, export_dir: str) -> None:
    """Writes the SavedModel with every signature (see the module docstring)."""
    tf.saved_model.save(module, export_dir, signatures=module.signatures())


def _id_lists(values: tf.Tensor) -> tf.SparseTensor:
    """[B] strings of whitespace-separated ids -> [B, N] SparseTensor of the ids in their
    order, as tf.io.parse_example returns a VarLenFeature."""
    return tf.strings.split(values).to_sparse()


def _where_rows(condition: tf.Tensor, if_true: tf.Tensor, if_false: tf.Tensor) -> tf.Tensor:
    """Row-wise select: condition [B], tensors [B, ...]."""
    shape = tf.concat([tf.shape(condition), tf.ones([tf.rank(if_true) - 1], tf.int32)], 0)
    return tf.where(tf.reshape(condition, shape), if_true, tf.cast(if_false, if_true.dtype))
